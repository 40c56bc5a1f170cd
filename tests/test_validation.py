"""Unit tests of tile-path validation (no server needed)."""

from __future__ import annotations

import pytest

from app.errors import ApiError
from app.validation import parse_tile
from core.world import DEFAULT_WORLD


def test_a_tile_inside_the_default_world_parses() -> None:
    min_x, _min_y, _max_x, max_y = DEFAULT_WORLD.tile_range(12)
    assert parse_tile(DEFAULT_WORLD, "12", str(min_x), f"{max_y}.png") == (12, min_x, max_y)


@pytest.mark.parametrize(
    ("z", "x", "y_file", "status"),
    [
        ("12", "0", "0.png", 404),
        ("9", "0", "0.png", 404),
        ("17", "0", "0.png", 404),
        ("12", "4096", "0.png", 400),
        ("12", "0", "1e3.png", 400),
        ("12", "0", "0.PNG", 400),
        ("", "0", "0.png", 400),
        ("12", " 1", "0.png", 400),
    ],
)
def test_bad_tiles_raise_a_client_error(z: str, x: str, y_file: str, status: int) -> None:
    with pytest.raises(ApiError) as caught:
        parse_tile(DEFAULT_WORLD, z, x, y_file)
    assert caught.value.status == status
    assert caught.value.message


def test_tile_range_matches_the_extent_edges() -> None:
    min_x, min_y, max_x, max_y = DEFAULT_WORLD.tile_range(10)
    assert DEFAULT_WORLD.contains_tile(10, min_x, min_y)
    assert DEFAULT_WORLD.contains_tile(10, max_x, max_y)
    assert not DEFAULT_WORLD.contains_tile(10, min_x - 1, min_y)
    assert not DEFAULT_WORLD.contains_tile(10, max_x, max_y + 1)
