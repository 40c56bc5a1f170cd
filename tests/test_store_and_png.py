"""Unit tests of the durable store (atomic, write-once) and tile encoding."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from core.png import decode_tile, encode_tile
from core.store import FileTileStore
from core.world import DEFAULT_WORLD


def test_store_writes_once_and_never_overwrites(tmp_path: Path) -> None:
    store = FileTileStore(tmp_path)
    assert store.get("w", 3, 1, 2) is None
    assert store.put_if_absent("w", 3, 1, 2, b"first")
    assert not store.put_if_absent("w", 3, 1, 2, b"second")
    assert store.get("w", 3, 1, 2) == b"first"
    assert (tmp_path / "w" / "3" / "1" / "2.png").read_bytes() == b"first"
    assert [p.name for p in (tmp_path / "w" / "3" / "1").iterdir()] == ["2.png"]  # no temp files
    assert (tmp_path / "w" / "3" / "1" / "2.png").stat().st_mode & 0o777 == 0o644


def test_concurrent_writers_leave_exactly_one_whole_tile(tmp_path: Path) -> None:
    store = FileTileStore(tmp_path)
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    winners: list[bool] = []
    threads = [
        threading.Thread(target=lambda p=p: winners.append(store.put_if_absent("w", 1, 0, 0, p)))
        for p in payloads
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert winners.count(True) == 1
    assert store.get("w", 1, 0, 0) in payloads
    assert len(list((tmp_path / "w" / "1" / "0").iterdir())) == 1


def test_png_carries_provenance_and_is_reproducible() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (256, 256, 3), np.uint8)
    data = encode_tile(pixels, DEFAULT_WORLD, "procedural@0.1.0", 12, 1, 2)
    assert data == encode_tile(pixels, DEFAULT_WORLD, "procedural@0.1.0", 12, 1, 2)
    info = Image.open(io.BytesIO(data)).info
    assert info["synthtiles:world"] == DEFAULT_WORLD.id
    assert info["synthtiles:seed"] == str(DEFAULT_WORLD.seed)
    assert info["synthtiles:tile"] == "12/1/2"
    assert "Synthetic" in info["Description"]
    assert np.array_equal(decode_tile(data), pixels)
