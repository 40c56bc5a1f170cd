"""Published tiles never change: tiles of the built-in and test worlds, generated afresh,
equal the bytes recorded when they were published (tests/data/published-tiles.json).

A change that alters a world's pixels must make a new world or model version instead;
this test is what catches one that did not (a refactor of the synthesis code, a
renderer helper shared between versions, a new default in a dependency). The reference
was written by the code of commit 89ae69b, before the layout moved into core/.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mercantile
import pytest

from core.settings import WorkerSettings
from core.world import WorldCatalog
from tests.stack import WORLDS_FILE
from worker.evaluation.world import Region, generate_region

REFERENCE = Path(__file__).parent / "data" / "published-tiles.json"
# (world, zoom): the tile near the middle of the world at min_zoom + 1, with its parent.
CASES = [("testland", 3), ("planland", 11), ("carana", 11), ("carana-v2", 11), ("carana-v4", 11)]


def _tile_near_middle(world_id: str, zoom: int) -> tuple[int, int]:
    west, south, east, north = WorldCatalog.load(WORLDS_FILE).get(world_id).extent
    tile = mercantile.tile((west + east) / 2 + 0.013, (south + north) / 2 + 0.011, zoom)
    return tile.x, tile.y


@pytest.mark.parametrize(("world_id", "zoom"), CASES)
def test_published_tiles_keep_their_bytes(tmp_path: Path, world_id: str, zoom: int) -> None:
    world = WorldCatalog.load(WORLDS_FILE).get(world_id)
    x, y = _tile_near_middle(world_id, zoom)
    generate_region(world, tmp_path, Region(zoom, x, y, 1, 1), "row-major", 1, WorkerSettings())
    made = {
        str(path.relative_to(tmp_path)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tmp_path.rglob("*.png"))
    }
    expected = {
        name: digest
        for name, digest in json.loads(REFERENCE.read_text()).items()
        if name.startswith(f"{world_id}/")
    }
    assert expected, f"no reference tiles for {world_id}"
    assert made == expected
