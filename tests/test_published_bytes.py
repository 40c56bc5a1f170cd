"""Published tiles never change: tiles of the built-in and test worlds, generated afresh,
equal the bytes recorded when they were published (tests/data/published-tiles.json).

A change that alters a world's pixels must make a new world or model version instead;
this test is what catches one that did not (a refactor of the synthesis code, a
renderer helper shared between versions, a new default in a dependency). The reference
was written by the code of commit 89ae69b, before the layout moved into core/.

Worlds whose model runs a learned step (torch) are byte-exact only on a CPU like the one
that published them: even with torch's kernels pinned to AVX2 (core/determinism.py),
oneDNN picks its convolution blocking by the processor's caches, so on another machine a
handful of pixels round one step the other way (seen: at most 1 level in 0.01 % of the
pixels, on a Sapphire Rapids CPU). There a tile whose bytes differ must still match the
published one's 16-pixel block means and spreads (tests/data/published-tiles-blocks.npz)
to within what such rounding can move them; any real change of the picture moves them more.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import mercantile
import numpy as np
import pytest
from PIL import Image

from core.settings import WorkerSettings
from core.world import WorldCatalog
from tests.stack import WORLDS_FILE
from worker.evaluation.world import Region, generate_region

REFERENCE = Path(__file__).parent / "data" / "published-tiles.json"
BLOCKS = Path(__file__).parent / "data" / "published-tiles-blocks.npz"
# (world, zoom): the tile near the middle of the world at min_zoom + 1, with its parent.
CASES = [
    ("testland", 3),
    ("planland", 11),
    ("carana", 11),
    ("carana-v2", 11),
    ("carana-v4", 11),
    ("carana-v5", 11),
    ("carana-v6", 11),
    ("carana-v7", 11),
    ("carana-v8", 11),
    ("carana-v9", 11),
    ("carana-v10", 11),
    ("carana-v11", 11),
]
LEARNED_STEP = {"carana", "carana-v2"}  # their bytes depend on the CPU (module notes)
BLOCK_PX = 16
# A block's mean or spread moves by at most (pixels changed / 256) levels when pixels round
# one level the other way; 0.25 allows 64 of a block's 256 pixels, far more than is seen.
ROUNDING = 0.25


def _tile_near_middle(world_id: str, zoom: int) -> tuple[int, int]:
    west, south, east, north = WorldCatalog.load(WORLDS_FILE).get(world_id).extent
    tile = mercantile.tile((west + east) / 2 + 0.013, (south + north) / 2 + 0.011, zoom)
    return tile.x, tile.y


def block_stats(png: bytes) -> np.ndarray:
    """(2, rows, cols, 3) float32: each 16-pixel block's mean and standard deviation."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float64)
    h, w, _ = pixels.shape
    blocks = pixels.reshape(h // BLOCK_PX, BLOCK_PX, w // BLOCK_PX, BLOCK_PX, 3)
    return np.stack([blocks.mean((1, 3)), blocks.std((1, 3))]).astype(np.float32)


def same_picture(png: bytes, reference: np.ndarray) -> bool:
    """True when a tile's blocks are the reference's up to one-level rounding."""
    return float(np.abs(block_stats(png) - reference).max()) <= ROUNDING


def _generate(world_id: str, zoom: int, out: Path) -> dict[str, bytes]:
    world = WorldCatalog.load(WORLDS_FILE).get(world_id)
    x, y = _tile_near_middle(world_id, zoom)
    generate_region(world, out, Region(zoom, x, y, 1, 1), "row-major", 1, WorkerSettings())
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*.png"))}


@pytest.mark.parametrize(("world_id", "zoom"), CASES)
def test_published_tiles_keep_their_bytes(tmp_path: Path, world_id: str, zoom: int) -> None:
    made = _generate(world_id, zoom, tmp_path)
    expected = {
        name: digest
        for name, digest in json.loads(REFERENCE.read_text()).items()
        if name.startswith(f"{world_id}/")
    }
    assert expected, f"no reference tiles for {world_id}"
    assert sorted(made) == sorted(expected)
    changed = [
        name for name, png in made.items() if hashlib.sha256(png).hexdigest() != expected[name]
    ]
    if world_id not in LEARNED_STEP:
        assert changed == []
        return
    blocks = np.load(BLOCKS)
    moved = [name for name in changed if not same_picture(made[name], blocks[name])]
    assert moved == [], f"{world_id}: these tiles' pictures changed, not just their rounding"


def test_the_rounding_check_tells_rounding_from_a_changed_picture() -> None:
    """One-level rounding of a few pixels passes; a real change, even a small one (a
    24-pixel square 4 levels brighter), does not."""
    rng = np.random.default_rng(0)
    base = rng.normal(120.0, 30.0, (256, 256, 3))

    def png(pixels: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8)).save(buffer, "PNG")
        return buffer.getvalue()

    reference = block_stats(png(base))
    rounded = base.copy()
    rounded[rng.random((256, 256)) < 0.001] += 1.0
    brighter = base.copy()
    brighter[100:124, 100:124] += 4.0
    assert same_picture(png(rounded), reference)
    assert not same_picture(png(brighter), reference)
