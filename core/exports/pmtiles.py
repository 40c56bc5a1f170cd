"""PMTiles v3 (https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md).

A single file read with HTTP range requests (or from disk): a 127-byte header, a root
directory, JSON metadata, leaf directories, then the tile data. Tiles are addressed by a
Hilbert-curve tile id; directories are varint columns, gzip-compressed. The writer spools
tile bytes to a side file as they come, then lays them out in tile-id order ("clustered"),
storing identical tiles once and runs of identical neighbours as one entry.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from core.exports.packages import PackageExport, TilesetMetadata, partial_file

HEADER_BYTES = 127
# Readers fetch the header and root directory in one 16 KiB request.
ROOT_LIMIT = 16_384 - HEADER_BYTES
_COMPRESSION_NONE, _COMPRESSION_GZIP = 1, 2
_TILE_TYPES = {"pbf": 1, "mvt": 1, "png": 2, "jpg": 3, "jpeg": 3, "webp": 4, "avif": 5}
_COMPRESSIONS = {"none": _COMPRESSION_NONE, "gzip": _COMPRESSION_GZIP}
_COPY_CHUNK = 8 << 20


def tile_id(z: int, x: int, y: int) -> int:
    """Position on the Hilbert curve of zoom z, after every tile of the zooms below it."""
    if not (0 <= x < 1 << z and 0 <= y < 1 << z):
        raise ValueError(f"tile {z}/{x}/{y} is outside zoom {z}")
    before = ((1 << (2 * z)) - 1) // 3  # 4^0 + 4^1 + ... + 4^(z-1)
    n = 1 << z
    d = 0
    s = n >> 1
    while s:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:  # rotate the quadrant so the curve stays continuous
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        s >>= 1
    return before + d


@dataclass(frozen=True)
class Entry:
    tile_id: int
    offset: int
    length: int
    run_length: int  # 0: a leaf directory, not tiles


def _varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def serialize_directory(entries: list[Entry]) -> bytes:
    raw = bytearray()
    _varint(len(entries), raw)
    last = 0
    for entry in entries:
        _varint(entry.tile_id - last, raw)
        last = entry.tile_id
    for entry in entries:
        _varint(entry.run_length, raw)
    for entry in entries:
        _varint(entry.length, raw)
    for i, entry in enumerate(entries):
        previous = entries[i - 1] if i else None
        if previous is not None and entry.offset == previous.offset + previous.length:
            _varint(0, raw)  # contiguous with the previous entry
        else:
            _varint(entry.offset + 1, raw)
    return gzip.compress(bytes(raw), mtime=0)  # mtime 0: the same tiles give the same file


def build_directories(entries: list[Entry], root_limit: int = ROOT_LIMIT) -> tuple[bytes, bytes]:
    """(root, leaves): everything in the root when it fits, else leaves of growing size."""
    root = serialize_directory(entries)
    if len(root) <= root_limit:
        return root, b""
    leaf_size = 4096
    while True:
        leaves = bytearray()
        root_entries = []
        for start in range(0, len(entries), leaf_size):
            chunk = entries[start : start + leaf_size]
            leaf = serialize_directory(chunk)
            root_entries.append(Entry(chunk[0].tile_id, len(leaves), len(leaf), 0))
            leaves += leaf
        root = serialize_directory(root_entries)
        if len(root) <= root_limit:
            return root, bytes(leaves)
        leaf_size *= 2


def _e7(degrees: float) -> int:
    return round(degrees * 10_000_000)


def _header(
    meta: TilesetMetadata,
    sections: dict[str, tuple[int, int]],
    counts: tuple[int, int, int],
) -> bytes:
    west, south, east, north = meta.bounds
    lon, lat, zoom = meta.center
    tile_type = _TILE_TYPES.get(meta.tile_format, 0)
    header = b"PMTiles" + struct.pack(
        "<B8Q3QBBBBBBiiiiBii",
        3,
        *sections["root"],
        *sections["metadata"],
        *sections["leaves"],
        *sections["tiles"],
        *counts,
        1,  # clustered
        _COMPRESSION_GZIP,  # directories and metadata
        _COMPRESSIONS[meta.tile_compression],  # tiles (none for PNGs: already compressed)
        tile_type,
        meta.minzoom,
        meta.maxzoom,
        _e7(west),
        _e7(south),
        _e7(east),
        _e7(north),
        zoom,
        _e7(lon),
        _e7(lat),
    )
    assert len(header) == HEADER_BYTES
    return header


def _metadata_json(meta: TilesetMetadata) -> bytes:
    document = {
        "name": meta.name,
        "description": meta.description,
        "attribution": meta.attribution,
        "type": meta.layer_type,
        "format": meta.tile_format,
        "version": meta.version,
        "bounds": list(meta.bounds),
        "center": list(meta.center),
        "minzoom": meta.minzoom,
        "maxzoom": meta.maxzoom,
        **meta.extra,
    }
    if meta.vector_layers is not None:
        document["vector_layers"] = meta.vector_layers
    return gzip.compress(json.dumps(document, sort_keys=True).encode(), mtime=0)


def write_pmtiles(
    out: Path,
    tiles: Iterable[tuple[int, int, int, bytes]],
    meta: TilesetMetadata,
    root_limit: int = ROOT_LIMIT,
) -> int:
    """Writes the tiles (XYZ numbering, any order) to `out`; returns how many were written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    spool_path = out.with_name(f".{out.name}.tiles")
    # tile id -> (offset, length) in the spool; content hash -> its first spool position.
    placed: dict[int, tuple[int, int]] = {}
    by_content: dict[bytes, tuple[int, int]] = {}
    try:
        with spool_path.open("w+b") as spool:
            for z, x, y, data in tiles:
                digest = hashlib.sha256(data).digest()
                if digest not in by_content:
                    by_content[digest] = (spool.tell(), len(data))
                    spool.write(data)
                placed[tile_id(z, x, y)] = by_content[digest]
            with partial_file(out) as tmp:
                _lay_out(tmp, spool, placed, meta, root_limit)
    finally:
        spool_path.unlink(missing_ok=True)
    return len(placed)


def _lay_out(
    tmp: Path,
    spool,
    placed: dict[int, tuple[int, int]],
    meta: TilesetMetadata,
    root_limit: int,
) -> None:
    # Tile data in tile-id order; a content already written is pointed at, not repeated.
    order: list[tuple[int, int, int]] = []  # (spool offset, length, offset in the data section)
    written: dict[int, int] = {}
    entries: list[Entry] = []
    data_length = 0
    for tid in sorted(placed):
        spool_offset, length = placed[tid]
        if spool_offset not in written:
            written[spool_offset] = data_length
            order.append((spool_offset, length, data_length))
            data_length += length
        offset = written[spool_offset]
        last = entries[-1] if entries else None
        if last is not None and last.offset == offset and last.tile_id + last.run_length == tid:
            entries[-1] = Entry(last.tile_id, offset, length, last.run_length + 1)
        else:
            entries.append(Entry(tid, offset, length, 1))

    root, leaves = build_directories(entries, root_limit)
    metadata = _metadata_json(meta)
    start = HEADER_BYTES
    sections = {"root": (start, len(root))}
    start += len(root)
    sections["metadata"] = (start, len(metadata))
    start += len(metadata)
    sections["leaves"] = (start, len(leaves))
    start += len(leaves)
    sections["tiles"] = (start, data_length)
    counts = (len(placed), len(entries), len(order))
    with tmp.open("wb") as f:
        f.write(_header(meta, sections, counts))
        f.write(root)
        f.write(metadata)
        f.write(leaves)
        for spool_offset, length, _ in order:
            spool.seek(spool_offset)
            remaining = length
            while remaining:
                chunk = spool.read(min(remaining, _COPY_CHUNK))
                f.write(chunk)
                remaining -= len(chunk)


class PMTilesExport(PackageExport):
    """A tile package export as a PMTiles file."""

    format: ClassVar[str] = "pmtiles"
    media_type: ClassVar[str] = "application/vnd.pmtiles"
    suffix: ClassVar[str] = ".pmtiles"
    write_package = staticmethod(write_pmtiles)
