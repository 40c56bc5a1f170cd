"""Exports as the API, the export worker and the CLI run them: tiles read from the store.

The formats (COG, MBTiles, PMTiles), their plans and writers are in core/exports/; this
module adds only what needs the deployment's tile store.
"""

from __future__ import annotations

from pathlib import Path

from core.exports import Export, ReadPng
from core.store import TileStore

__all__ = ["store_reader", "write_export"]


def store_reader(store: TileStore, world_id: str) -> ReadPng:
    """Reads an export's tiles from the store (they were all made before writing starts)."""

    def read(z: int, x: int, y: int) -> bytes:
        data = store.get(world_id, z, x, y)
        if data is None:
            raise RuntimeError(f"tile {world_id}/{z}/{x}/{y} vanished from the store")
        return data

    return read


def write_export(export: Export, read_png: ReadPng, out: Path, attribution: str) -> Path:
    """Writes the planned export to `out`, whatever its format."""
    return export.write(read_png, out, attribution)
