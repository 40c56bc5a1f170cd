"""Unit tests of the world engine's scheduling rules (DESIGN §3)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from core.units import UnitKey, unit_seed, unit_tiles
from core.world import World
from worker.synthesis.engine import (
    build_request,
    dependencies,
    finish_canvas,
    known_neighbours,
    parent_unit,
    plan,
)
from worker.synthesis.generators.procedural import ProceduralGenerator

WORLD = World(
    id="w",
    seed=7,
    model="procedural@0.1.0",
    min_zoom=3,
    max_zoom=12,
    extent=(-60.0, -50.0, 60.0, 50.0),
    canvas_margin=16,
)


def random_units(count: int, seed: int = 0) -> list[UnitKey]:
    rng = random.Random(seed)
    units = []
    for _ in range(count):
        z = rng.randint(WORLD.min_zoom, WORLD.max_zoom)
        min_x, min_y, max_x, max_y = WORLD.tile_range(z)
        units.append(UnitKey("w", z, rng.randint(min_x, max_x), rng.randint(min_y, max_y)))
    return units


@pytest.mark.parametrize("unit", random_units(300))
def test_a_unit_is_only_given_neighbours_of_lower_phase(unit: UnitKey) -> None:
    for dx, dy, neighbour in known_neighbours(WORLD, unit):
        assert neighbour.phase < unit.phase
        assert max(abs(dx), abs(dy)) == 1
        assert neighbour.z == unit.z


def test_phase_zero_needs_no_neighbour_and_phase_three_all_eight() -> None:
    z = 6
    min_x, min_y, _, _ = WORLD.tile_range(z)
    even_x, even_y = min_x + 2 + min_x % 2, min_y + 2 + min_y % 2
    assert known_neighbours(WORLD, UnitKey("w", z, even_x, even_y)) == []
    assert len(known_neighbours(WORLD, UnitKey("w", z, even_x + 1, even_y + 1))) == 8


@pytest.mark.parametrize("unit", random_units(100, seed=1))
def test_dependency_closure_is_bounded_to_a_3x3_block_per_zoom(unit: UnitKey) -> None:
    waves = plan(WORLD, [unit], exists=lambda _unit: False)
    same_zoom = [u for wave in waves for u in wave if u.z == unit.z]
    assert len(same_zoom) <= 9
    assert all(abs(u.ux - unit.ux) <= 1 and abs(u.uy - unit.uy) <= 1 for u in same_zoom)


@pytest.mark.parametrize("unit", random_units(100, seed=2))
def test_plan_is_topological_and_skips_what_exists(unit: UnitKey) -> None:
    existing = {parent_unit(WORLD, unit)} if unit.z > WORLD.min_zoom else set()
    waves = plan(WORLD, [unit], exists=lambda u: u in existing)
    order = [u for wave in waves for u in wave]
    assert order[-1] == unit
    assert not existing & set(order)
    position = {u: i for i, u in enumerate(order)}
    for u in order:
        for dep in dependencies(WORLD, u):
            assert dep in existing or position[dep] < position[u]
    for wave in waves:  # one wave: one zoom and phase, so no unit depends on another
        assert len({(u.z, u.phase) for u in wave}) == 1


def test_unit_seed_depends_on_world_and_position_only() -> None:
    unit = UnitKey("w", 5, 10, 11)
    assert unit_seed(WORLD, unit) == unit_seed(WORLD, UnitKey("w", 5, 10, 11))
    assert unit_seed(WORLD, unit) != unit_seed(WORLD, UnitKey("w", 5, 11, 10))
    other = WORLD.model_copy(update={"seed": 8})
    assert unit_seed(WORLD, unit) != unit_seed(other, unit)


def _tiles_from(pixels_by_tile: dict[tuple[int, int, int], np.ndarray]):
    return lambda z, x, y: pixels_by_tile[(z, x, y)]


def test_conditioning_places_neighbours_and_parent_and_keeps_known_pixels_exact() -> None:
    z = 6
    min_x, min_y, _, _ = WORLD.tile_range(z)
    ux, uy = min_x + 2 + (min_x % 2 == 0), min_y + 2 + (min_y % 2 == 0)  # odd, odd: phase 3
    unit = UnitKey("w", z, ux, uy)
    rng = np.random.default_rng(0)
    tiles = {}
    for _, _, neighbour in known_neighbours(WORLD, unit):
        tiles[(z, neighbour.ux, neighbour.uy)] = rng.integers(0, 256, (256, 256, 3), np.uint8)
    parent = parent_unit(WORLD, unit)
    tiles[(parent.z, parent.ux, parent.uy)] = rng.integers(0, 256, (256, 256, 3), np.uint8)

    request = build_request(WORLD, unit, _tiles_from(tiles))
    m = request.margin
    left = tiles[(z, ux - 1, uy)]
    assert np.array_equal(request.known[m : m + 256, :m], left[:, 256 - m :])
    assert request.known_mask[m : m + 256, :m].all()
    assert not request.known_mask[m : m + 256, m : m + 256].any()  # the unit itself is unknown
    parent_pixels = tiles[(parent.z, parent.ux, parent.uy)]
    h = m // 2  # odd, odd: the parent's lower-right quadrant is the canvas centre
    assert np.array_equal(request.parent[h : h + 128, h : h + 128], parent_pixels[128:, 128:])
    assert not request.parent_is_layout
    assert request.layout.shape == (256 + 2 * m, 256 + 2 * m)

    canvas = ProceduralGenerator().generate([request])[0]
    out = finish_canvas(request, canvas)
    # Only the two generated pixels next to known ones are feathered; the rest is the
    # generator's canvas centre as it was.
    assert np.array_equal(out[2:254, 2:254], canvas[m + 2 : m + 254, m + 2 : m + 254])
    assert out.shape == (256, 256, 3) and not np.array_equal(
        out[:, :2], canvas[m : m + 256, m : m + 2]
    )
    # A generator that continues its neighbours' texture asks for no feathering at all.
    plain = finish_canvas(request, canvas, feather=False)
    assert np.array_equal(plain, canvas[m : m + 256, m : m + 256])


def test_feathering_never_touches_known_pixels() -> None:
    from worker.synthesis.engine import _feather_along_known

    rng = np.random.default_rng(1)
    canvas = rng.integers(0, 256, (40, 40, 3), np.uint8)
    known = np.zeros((40, 40), bool)
    known[:, :10] = True
    out = _feather_along_known(canvas, known)
    assert np.array_equal(out[:, :10], canvas[:, :10])  # known: exact
    assert not np.array_equal(out[:, 10:12], canvas[:, 10:12])  # the two rows beside them
    assert np.array_equal(out[:, 12:], canvas[:, 12:])  # everything else untouched


def test_generation_is_deterministic() -> None:
    unit = UnitKey("w", 3, *WORLD.tile_range(3)[:2])
    request = build_request(WORLD, unit, _tiles_from({}))
    first = ProceduralGenerator().generate([request])[0]
    again = ProceduralGenerator().generate([build_request(WORLD, unit, _tiles_from({}))])[0]
    assert np.array_equal(first, again)


def test_units_are_clipped_to_the_grid() -> None:
    world = World(id="big", seed=1, model="procedural@0.1.0", unit_size=4, min_zoom=2, max_zoom=5)
    assert len(unit_tiles(world, UnitKey("big", 2, 0, 0))) == 16
    assert unit_tiles(world, UnitKey("big", 3, 1, 1))[0] == (4, 4)


def test_world_rejects_inconsistent_definitions() -> None:
    with pytest.raises(ValueError, match="power of two"):
        World(id="x", seed=1, model="a@1", unit_size=3, min_zoom=2, max_zoom=4)
    with pytest.raises(ValueError, match="min_zoom"):
        World(id="x", seed=1, model="a@1", min_zoom=5, max_zoom=4)
    with pytest.raises(ValueError, match=r"NAME@VERSION|pattern"):
        World(id="x", seed=1, model="no-version", min_zoom=2, max_zoom=4)


def _phase_zero_request(parent_margin: str):
    """A phase-0 unit (no known neighbours) and its parent's pixels."""
    z = 6
    min_x, min_y, _, _ = WORLD.tile_range(z)
    ux, uy = min_x + 2 + (min_x % 2), min_y + 2 + (min_y % 2)  # even, even: phase 0
    unit = UnitKey("w", z, ux, uy)
    assert known_neighbours(WORLD, unit) == []
    parent = parent_unit(WORLD, unit)
    pixels = np.random.default_rng(1).integers(0, 256, (256, 256, 3), np.uint8)
    tiles = {(parent.z, parent.ux, parent.uy): pixels}
    return build_request(WORLD, unit, _tiles_from(tiles), parent_margin), pixels


def test_the_parent_margin_holds_the_sibling_quadrants_with_parent_margin_parent() -> None:
    """The unit is the parent's upper-left quadrant: to its right and below, the margin of
    its parent canvas lies inside the parent (the sibling quadrants); "edge" repeats the
    quadrant's edge there, "parent" takes the parent's pixels, and says for every pixel
    beyond the parent which edge pixel it repeats."""
    h = WORLD.canvas_margin // 2
    old, pixels = _phase_zero_request("edge")
    new, _ = _phase_zero_request("parent")
    assert old.parent_source is None
    centre = slice(h, h + 128)
    assert np.array_equal(new.parent[centre, centre], old.parent[centre, centre])
    assert np.array_equal(new.parent[centre, h + 128 :], pixels[:128, 128 : 128 + h])
    assert np.array_equal(old.parent[centre, h + 128 :], np.repeat(pixels[:128, 127:128], h, 1))
    span = 128 + 2 * h
    own = np.arange(span * span).reshape(span, span)
    source = new.parent_source
    assert source is not None and source.shape == (span, span)
    assert np.array_equal(source[h:, h:], own[h:, h:])  # real parent pixels are their own
    # Left of the parent, each pixel repeats the parent's first column on its row.
    assert np.array_equal(source[h:, :h], np.repeat(own[h:, h : h + 1], h, 1))
    flat = new.parent.reshape(-1, 3)
    assert np.array_equal(flat[source.ravel()].reshape(new.parent.shape), new.parent)
    with pytest.raises(ValueError, match="parent_margin"):
        _phase_zero_request("mirror")
