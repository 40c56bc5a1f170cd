"""Tile packages (MBTiles 1.3, PMTiles v3): every tile touching the bbox at each zoom of a
range, byte-for-byte the served PNGs, with metadata saying the imagery is synthetic.

The plan and the metadata are shared here; each package format is a subclass naming its
file writer (core/exports/mbtiles.py, core/exports/pmtiles.py). The writers are pure: they
take (z, x, y, bytes) in any order plus the metadata and write one file under a temporary
name, renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from core.bbox import BBox, clip_to_world, tiles_in
from core.exports.base import Export, ExportTooLarge, ReadPng
from core.world import World


@dataclass(frozen=True)
class TilesetMetadata:
    """What a tile package says about itself (the fields MBTiles and PMTiles readers look for)."""

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


# (out, tiles as (z, x, y, PNG bytes), metadata) -> how many tiles were written
PackageWriter = Callable[[Path, Iterable[tuple[int, int, int, bytes]], TilesetMetadata], int]


@dataclass(frozen=True)
class PackageExport(Export):
    """Every tile touching a bbox at each zoom of a range, as one package file.

    Subclasses set `format`, `media_type`, `suffix` and `write_package`."""

    world: World
    bbox: BBox
    minzoom: int
    maxzoom: int
    tiles_by_zoom: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]
    write_package: ClassVar[PackageWriter]

    @property
    def zooms(self) -> list[int]:
        return [self.minzoom, self.maxzoom]

    @classmethod
    def plan(cls, world: World, bbox: BBox, minzoom: int, maxzoom: int, max_pixels: int) -> Self:
        clipped = clip_to_world(world, bbox)
        plan = cls(
            world,
            clipped,
            minzoom,
            maxzoom,
            tuple((z, tuple(tiles_in(world, clipped, z))) for z in range(minzoom, maxzoom + 1)),
        )
        if plan.pixels > max_pixels:
            raise ExportTooLarge(
                f"package of {plan.tile_count} tiles ({plan.pixels / 1e6:.1f} Mpx) at zoom "
                f"{minzoom}-{maxzoom} exceeds the limit of {max_pixels / 1e6:.0f} Mpx; "
                "use a smaller bbox or zoom range"
            )
        return plan

    @property
    def tile_count(self) -> int:
        return sum(len(tiles) for _, tiles in self.tiles_by_zoom)

    @property
    def pixels(self) -> int:
        return self.tile_count * self.world.tile_size**2

    def tile_coords(self) -> Iterator[tuple[int, int, int]]:
        return ((z, x, y) for z, tiles in self.tiles_by_zoom for x, y in tiles)

    @property
    def filename(self) -> str:
        return f"{self.world.id}-z{self.minzoom}-{self.maxzoom}{self.suffix}"

    def size_fields(self) -> dict[str, int]:
        return {"tiles": self.tile_count}

    def describe(self) -> str:
        return f"{self.tile_count} tiles at z{self.minzoom}-{self.maxzoom}"

    def metadata(self, attribution: str) -> TilesetMetadata:
        west, south, east, north = self.bbox
        world = self.world
        return TilesetMetadata(
            name=f"{world.name or world.id} (synthetic)",
            description=(
                f"Synthetic satellite imagery of the fictional world {world.id!r} "
                f"(seed {world.seed}, model {world.model}); not a real place."
            ),
            attribution=attribution,
            bounds=self.bbox,
            center=((west + east) / 2, (south + north) / 2, self.minzoom),
            minzoom=self.minzoom,
            maxzoom=self.maxzoom,
            extra={
                "synthtiles": {
                    "world": world.id,
                    "seed": world.seed,
                    "model": world.model,
                    "tile_size": world.tile_size,
                    "synthetic": True,
                }
            },
        )

    def write(self, read_png: ReadPng, out: Path, attribution: str) -> Path:
        tiles = ((z, x, y, read_png(z, x, y)) for z, x, y in self.tile_coords())
        self.write_package(out, tiles, self.metadata(attribution))
        return out
