"""MBTiles and PMTiles writers, read back by independent readers (sqlite3, the pmtiles package)."""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
from pathlib import Path

import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import deserialize_header, zxy_to_tileid

from core.exports import TilesetMetadata, write_mbtiles, write_pmtiles
from core.exports.pmtiles import tile_id

META = TilesetMetadata(
    name="Testland",
    description="synthetic",
    attribution="Synthetic imagery: not a real place",
    bounds=(-10.0, -8.0, 0.0, 0.0),
    center=(-5.0, -4.0, 3),
    minzoom=2,
    maxzoom=5,
    extra={"synthtiles": {"world": "testland", "synthetic": True}},
)


def _tiles(seed: int = 0) -> dict[tuple[int, int, int], bytes]:
    """A small pyramid with some repeated contents (as sea tiles repeat)."""
    rng = random.Random(seed)
    tiles = {}
    for z in range(2, 6):
        for x in range(0, 1 << z, 2):
            for y in range(1, 1 << z, 3):
                same = rng.random() < 0.3
                tiles[z, x, y] = b"sea" if same else rng.randbytes(rng.randint(1, 300))
    return tiles


def test_tile_id_is_the_pmtiles_hilbert_id() -> None:
    rng = random.Random(1)
    for _ in range(500):
        z = rng.randint(0, 22)
        x, y = rng.randrange(1 << z), rng.randrange(1 << z)
        assert tile_id(z, x, y) == zxy_to_tileid(z, x, y)
    with pytest.raises(ValueError, match="outside zoom"):
        tile_id(3, 8, 0)


@pytest.mark.parametrize("root_limit", [16_384 - 127, 200], ids=["root-only", "leaf-directories"])
def test_pmtiles_reads_back_every_tile_and_the_metadata(tmp_path: Path, root_limit: int) -> None:
    tiles = _tiles()
    items = list(tiles.items())
    random.Random(2).shuffle(items)  # the writer takes tiles in any order
    out = tmp_path / "new-folder" / "t.pmtiles"
    written = write_pmtiles(out, ((*k, v) for k, v in items), META, root_limit=root_limit)
    assert written == len(tiles)
    with out.open("rb") as f:
        get = MmapSource(f)
        header = deserialize_header(get(0, 127))
        assert header["clustered"] is True and header["tile_type"].value == 2  # PNG
        assert (header["min_zoom"], header["max_zoom"]) == (2, 5)
        assert header["addressed_tiles_count"] == len(tiles)
        assert header["tile_contents_count"] < len(tiles)  # identical tiles stored once
        if root_limit < 1000:
            assert header["leaf_directory_length"] > 0
        assert header["min_lon_e7"] == -100_000_000 and header["max_lat_e7"] == 0
        reader = Reader(get)
        metadata = reader.metadata()
        assert metadata["name"] == "Testland" and metadata["synthtiles"]["world"] == "testland"
        for (z, x, y), data in tiles.items():
            assert reader.get(z, x, y) == data
        assert reader.get(5, 1, 1) is None
        assert dict(((z, x, y), d) for (z, x, y), d in all_tiles(get)) == tiles
    assert [p.name for p in out.parent.iterdir()] == ["t.pmtiles"]  # no spool or partial left


def test_pmtiles_output_depends_only_on_the_tiles(tmp_path: Path) -> None:
    tiles = list(_tiles().items())
    write_pmtiles(tmp_path / "a.pmtiles", ((*k, v) for k, v in tiles), META)
    write_pmtiles(tmp_path / "b.pmtiles", ((*k, v) for k, v in reversed(tiles)), META)
    assert (tmp_path / "a.pmtiles").read_bytes() == (tmp_path / "b.pmtiles").read_bytes()


def test_mbtiles_follows_the_1_3_spec(tmp_path: Path) -> None:
    tiles = _tiles()
    out = tmp_path / "new-folder" / "t.mbtiles"
    assert write_mbtiles(out, ((*k, v) for k, v in tiles.items()), META) == len(tiles)
    with sqlite3.connect(out) as db:
        metadata = dict(db.execute("SELECT name, value FROM metadata"))
        assert metadata["format"] == "png" and metadata["type"] == "baselayer"
        assert metadata["bounds"] == "-10.000000,-8.000000,0.000000,0.000000"
        assert metadata["center"] == "-5.000000,-4.000000,3"
        assert (metadata["minzoom"], metadata["maxzoom"]) == ("2", "5")
        assert json.loads(metadata["synthtiles"])["synthetic"] is True
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        # tile_row counts from the south (TMS).
        read = {(z, x, (1 << z) - 1 - row): bytes(data) for z, x, row, data in rows}
    assert read == tiles


@pytest.mark.parametrize("writer", [write_mbtiles, write_pmtiles])
def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, writer) -> None:
    out = tmp_path / "pkg"
    out.write_bytes(b"an older package")

    def failing():
        yield 3, 1, 1, b"tile"
        raise RuntimeError("the store lost a tile")

    with pytest.raises(RuntimeError, match="lost a tile"):
        writer(out, failing(), META)
    assert out.read_bytes() == b"an older package"  # untouched, never half-replaced
    assert [p.name for p in tmp_path.iterdir()] == ["pkg"]


def test_pmtiles_metadata_is_gzipped_json(tmp_path: Path) -> None:
    out = tmp_path / "m.pmtiles"
    write_pmtiles(out, [(2, 1, 1, b"x")], META)
    raw = out.read_bytes()
    header = deserialize_header(raw[:127])
    start, length = header["metadata_offset"], header["metadata_length"]
    document = json.loads(gzip.decompress(raw[start : start + length]))
    assert document["attribution"] == META.attribution and document["format"] == "png"
