"""MBTiles 1.3 (https://github.com/mapbox/mbtiles-spec/blob/master/1.3/spec.md).

One SQLite file: a `metadata` name/value table and a `tiles` table in the TMS row order
(y counted from the south), which is what QGIS, GDAL, tileserver-gl and MapTiler read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from core.exports.packages import PackageExport, TilesetMetadata, partial_file

_SCHEMA = """
CREATE TABLE metadata (name TEXT, value TEXT);
CREATE UNIQUE INDEX metadata_name ON metadata (name);
CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
"""


def metadata_rows(meta: TilesetMetadata) -> list[tuple[str, str]]:
    lon, lat, zoom = meta.center
    rows = [
        ("name", meta.name),
        ("format", meta.tile_format),
        ("bounds", ",".join(f"{v:.6f}" for v in meta.bounds)),
        ("center", f"{lon:.6f},{lat:.6f},{zoom}"),
        ("minzoom", str(meta.minzoom)),
        ("maxzoom", str(meta.maxzoom)),
        ("attribution", meta.attribution),
        ("description", meta.description),
        ("type", meta.layer_type),
        ("version", meta.version),
    ]
    if meta.vector_layers is not None:  # required for MVT packages (MBTiles 1.3)
        rows.append(("json", json.dumps({"vector_layers": meta.vector_layers})))
    rows += [(key, json.dumps(value)) for key, value in meta.extra.items()]
    return rows


def write_mbtiles(
    out: Path, tiles: Iterable[tuple[int, int, int, bytes]], meta: TilesetMetadata
) -> int:
    """Writes the tiles (XYZ numbering) to `out`; returns how many were written."""
    count = 0
    with partial_file(out) as tmp:
        connection = sqlite3.connect(tmp)
        try:
            connection.executescript(_SCHEMA)
            connection.executemany("INSERT INTO metadata VALUES (?, ?)", metadata_rows(meta))
            for z, x, y, data in tiles:
                tms_row = (1 << z) - 1 - y
                connection.execute(
                    "INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, tms_row, sqlite3.Binary(data))
                )
                count += 1
            connection.commit()
        finally:
            connection.close()
    return count


class MBTilesExport(PackageExport):
    """A tile package export as an MBTiles file."""

    format: ClassVar[str] = "mbtiles"
    media_type: ClassVar[str] = "application/vnd.sqlite3"
    suffix: ClassVar[str] = ".mbtiles"
    write_package = staticmethod(write_mbtiles)
