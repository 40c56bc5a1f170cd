"""Unit tests of the per-zoom measures of `synthtiles eval model` (no model involved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from worker.evaluation.model import class_matched_detail, detail, scaled_crops


def _image(path: Path, amplitude: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = np.clip(128 + amplitude * rng.standard_normal((512, 512, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def test_class_matched_detail_compares_each_tile_with_its_own_class(tmp_path: Path) -> None:
    # A held-out set of busy towns and calm forest; the "generated" tiles are mostly forest.
    _image(tmp_path / "town.png", 60.0, 1)
    _image(tmp_path / "forest.png", 8.0, 2)
    labels = {"town.png": "urban", "forest.png": "forest"}
    forest = scaled_crops(tmp_path, 6, 1, seed=3, names={"forest.png"})
    town = scaled_crops(tmp_path, 2, 1, seed=4, names={"town.png"})
    water = np.full((2, 256, 256, 3), 90, np.uint8)
    tiles = np.concatenate([forest, town, water])
    classes = ["forest"] * 6 + ["urban"] * 2 + ["water"] * 2

    ratio, share = class_matched_detail(tiles, classes, tmp_path, labels, factor=1)

    # Like for like: the tiles are the held-out classes' own pixels, so about 1; the plain
    # ratio against the whole held-out mix is far lower (mostly calm forest vs half towns).
    assert 0.9 < ratio < 1.1
    plain = detail(tiles[:8]) / detail(scaled_crops(tmp_path, 8, 1, seed=5))
    assert plain < 0.7
    # Water has no held-out image: left out, and the share says so.
    assert share == 0.8


def test_class_matched_detail_is_none_without_any_shared_class(tmp_path: Path) -> None:
    _image(tmp_path / "town.png", 60.0, 1)
    tiles = np.full((3, 256, 256, 3), 90, np.uint8)
    assert class_matched_detail(tiles, ["water"] * 3, tmp_path, {"town.png": "urban"}, 1) is None
