"""What a tile package says about itself (the fields MBTiles and PMTiles readers look for)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TilesetMetadata:
    name: str
    description: str
    attribution: str
    bounds: tuple[float, float, float, float]  # west, south, east, north (degrees)
    center: tuple[float, float, int]  # lon, lat, zoom
    minzoom: int
    maxzoom: int
    tile_format: str = "png"
    version: str = "1.0.0"
    extra: dict[str, Any] = field(default_factory=dict)  # written as-is (JSON values)


@contextlib.contextmanager
def partial_file(out: Path) -> Iterator[Path]:
    """A temporary path beside `out`, renamed onto it on success and removed on failure."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
