"""Exports of a bbox: a Cloud-Optimized GeoTIFF at one zoom, or an MBTiles/PMTiles package.

COG: the raster keeps the XYZ pixel grid of its zoom (no resampling) and is cropped to the
pixels the bbox touches, so it lines up with the tiles exactly; the bounds therefore snap
outwards to that grid by less than one pixel. Overviews are internal (average), compression
is DEFLATE with a horizontal predictor, and tags say the imagery is synthetic.

Tile packages (MBTiles 1.3, PMTiles v3): every tile touching the bbox at each zoom of a
range, byte-for-byte the served PNGs, with metadata saying the imagery is synthetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import mercantile
import numpy as np

from app.seeding import SeedError, clip_to_world, tiles_in
from core.png import decode_tile
from core.store import TileStore
from core.tilepackages import TilesetMetadata, write_mbtiles, write_pmtiles
from core.units import UnitKey, unit_of_tile
from core.world import World

ORIGIN = 20037508.342789244  # half the Web-Mercator world width, metres
ExportFormat = Literal["cog", "mbtiles", "pmtiles"]
EXPORT_FORMATS: tuple[str, ...] = ("cog", "mbtiles", "pmtiles")
MEDIA_TYPES = {
    "cog": "image/tiff",
    "mbtiles": "application/vnd.sqlite3",
    "pmtiles": "application/vnd.pmtiles",
}
SUFFIXES = {"cog": ".tif", "mbtiles": ".mbtiles", "pmtiles": ".pmtiles"}
ReadPng = Callable[[int, int, int], bytes]  # (z, x, y) -> the stored tile's PNG bytes
GDAL_CACHE_MB = 128  # GDAL's block cache while a COG is written


def store_reader(store: TileStore, world_id: str) -> ReadPng:
    """Reads an export's tiles from the store (they were all made before writing starts)."""

    def read(z: int, x: int, y: int) -> bytes:
        data = store.get(world_id, z, x, y)
        if data is None:
            raise RuntimeError(f"tile {world_id}/{z}/{x}/{y} vanished from the store")
        return data

    return read


class ExportTooLarge(SeedError):
    pass


@dataclass(frozen=True)
class CogExport:
    """One zoom's pixels inside a bbox, as a single GeoTIFF."""

    world: World
    zoom: int
    bbox: tuple[float, float, float, float]
    px0: int  # pixel window in global pixel coordinates at this zoom (end exclusive)
    py0: int
    px1: int
    py1: int
    format: ClassVar[str] = "cog"

    @property
    def width(self) -> int:
        return self.px1 - self.px0

    @property
    def height(self) -> int:
        return self.py1 - self.py0

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def metres_per_pixel(self) -> float:
        return 2 * ORIGIN / (self.world.tile_size * 2**self.zoom)

    @property
    def bounds_3857(self) -> tuple[float, float, float, float]:
        res = self.metres_per_pixel
        return (
            self.px0 * res - ORIGIN,
            ORIGIN - self.py1 * res,
            self.px1 * res - ORIGIN,
            ORIGIN - self.py0 * res,
        )

    def tiles(self) -> list[tuple[int, int]]:
        size = self.world.tile_size
        return [
            (x, y)
            for y in range(self.py0 // size, (self.py1 - 1) // size + 1)
            for x in range(self.px0 // size, (self.px1 - 1) // size + 1)
        ]

    def units(self) -> list[UnitKey]:
        return list(
            dict.fromkeys(unit_of_tile(self.world, self.zoom, x, y) for x, y in self.tiles())
        )

    @property
    def filename(self) -> str:
        return f"{self.world.id}-z{self.zoom}-{self.width}x{self.height}.tif"

    def write(self, read_png: ReadPng, out: Path) -> Path:
        return write_cog(self, lambda z, x, y: decode_tile(read_png(z, x, y)), out)


@dataclass(frozen=True)
class PackageExport:
    """Every tile touching a bbox at each zoom of a range, as an MBTiles or PMTiles file."""

    world: World
    format: str  # "mbtiles" | "pmtiles"
    bbox: tuple[float, float, float, float]
    minzoom: int
    maxzoom: int
    tiles_by_zoom: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]

    @property
    def tile_count(self) -> int:
        return sum(len(tiles) for _, tiles in self.tiles_by_zoom)

    @property
    def pixels(self) -> int:
        return self.tile_count * self.world.tile_size**2

    def units(self) -> list[UnitKey]:
        return list(
            dict.fromkeys(
                unit_of_tile(self.world, z, x, y)
                for z, tiles in self.tiles_by_zoom
                for x, y in tiles
            )
        )

    @property
    def filename(self) -> str:
        return f"{self.world.id}-z{self.minzoom}-{self.maxzoom}{SUFFIXES[self.format]}"

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
        def tiles() -> Iterator[tuple[int, int, int, bytes]]:
            for z, coords in self.tiles_by_zoom:
                for x, y in coords:
                    yield z, x, y, read_png(z, x, y)

        writer = write_mbtiles if self.format == "mbtiles" else write_pmtiles
        writer(out, tiles(), self.metadata(attribution))
        return out


Export = CogExport | PackageExport


def write_export(export: Export, read_png: ReadPng, out: Path, attribution: str) -> Path:
    if isinstance(export, CogExport):
        return export.write(read_png, out)
    return export.write(read_png, out, attribution)


def plan_export(
    world: World,
    bbox: tuple[float, float, float, float],
    format: str,
    minzoom: int,
    maxzoom: int,
    max_pixels: int,
) -> Export:
    """Checks an export request against the world and the size limit; says what it makes."""
    if format not in EXPORT_FORMATS:
        raise SeedError(f"unknown export format {format!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if minzoom > maxzoom:
        raise SeedError(f"zoom range {minzoom}-{maxzoom} is inverted: need minzoom <= maxzoom")
    if minzoom < world.min_zoom or maxzoom > world.max_zoom:
        shown = str(minzoom) if minzoom == maxzoom else f"{minzoom}-{maxzoom}"
        raise SeedError(
            f"zoom {shown} is outside world {world.id!r}'s range {world.min_zoom}-{world.max_zoom}"
        )
    if format == "cog":
        if minzoom != maxzoom:
            raise SeedError(
                f"a COG export has one zoom, got {minzoom}-{maxzoom}; "
                "use format mbtiles or pmtiles for a zoom range"
            )
        return _plan_cog(world, bbox, minzoom, max_pixels)
    clipped = clip_to_world(world, bbox)
    plan = PackageExport(
        world,
        format,
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


def _plan_cog(
    world: World, bbox: tuple[float, float, float, float], zoom: int, max_pixels: int
) -> CogExport:
    west, south, east, north = clip_to_world(world, bbox)
    world_px = world.tile_size * 2**zoom
    left, top = mercantile.xy(west, north)
    right, bottom = mercantile.xy(east, south)

    def to_px(metres_x: float, metres_y: float) -> tuple[float, float]:
        return (
            (metres_x + ORIGIN) / (2 * ORIGIN) * world_px,
            (ORIGIN - metres_y) / (2 * ORIGIN) * world_px,
        )

    fx0, fy0 = to_px(left, top)
    fx1, fy1 = to_px(right, bottom)
    plan = CogExport(
        world,
        zoom,
        (west, south, east, north),
        math.floor(fx0),
        math.floor(fy0),
        math.ceil(fx1),
        math.ceil(fy1),
    )
    if plan.pixels > max_pixels:
        raise ExportTooLarge(
            f"export of {plan.width}x{plan.height} px ({plan.pixels / 1e6:.1f} Mpx) at zoom {zoom} "
            f"exceeds the limit of {max_pixels / 1e6:.0f} Mpx; use a smaller bbox or zoom"
        )
    return plan


def _tile_windows(
    plan: CogExport,
) -> Iterator[tuple[int, int, tuple[slice, slice], tuple[int, int, int, int]]]:
    """For each tile of the plan: (x, y, its part inside the raster as tile-pixel slices,
    that part's window in the raster as col, row, width, height)."""
    size = plan.world.tile_size
    for x, y in plan.tiles():
        gx0, gy0 = max(x * size, plan.px0), max(y * size, plan.py0)
        gx1, gy1 = min((x + 1) * size, plan.px1), min((y + 1) * size, plan.py1)
        part = (slice(gy0 - y * size, gy1 - y * size), slice(gx0 - x * size, gx1 - x * size))
        yield x, y, part, (gx0 - plan.px0, gy0 - plan.py0, gx1 - gx0, gy1 - gy0)


def write_cog(plan: CogExport, read_tile: Callable[[int, int, int], np.ndarray], out: Path) -> Path:
    import rasterio
    from rasterio.transform import from_bounds
    from rasterio.windows import Window
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    # Tile by tile into a tiled GeoTIFF on disk, then translated to a COG from there: memory
    # stays bounded by a tile and GDAL's cache, whatever the export's size (the whole
    # mosaic in memory took 1.9 GB for 88 Mpx).
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 3,
        "width": plan.width,
        "height": plan.height,
        "crs": "EPSG:3857",
        "transform": from_bounds(*plan.bounds_3857, plan.width, plan.height),
        "photometric": "RGB",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    tags = {
        "SYNTHETIC": "true",
        "DESCRIPTION": "Synthetic imagery generated by synthtiles; not a real place.",
        "SYNTHTILES_WORLD": plan.world.id,
        "SYNTHTILES_SEED": str(plan.world.seed),
        "SYNTHTILES_MODEL": plan.world.model,
        "SYNTHTILES_ZOOM": str(plan.zoom),
        "SYNTHTILES_BBOX": ",".join(f"{v:.8f}" for v in plan.bbox),
    }
    cog_profile = cog_profiles.get("deflate")
    cog_profile.update({"predictor": 2, "blockxsize": 256, "blockysize": 256})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    staging = out.with_name(f".{out.name}.staging.tif")
    try:
        # GDAL's block cache defaults to 5% of the machine's memory: bound it as well.
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            with rasterio.open(staging, "w", **profile) as dataset:
                for x, y, part, (col, row, width, height) in _tile_windows(plan):
                    pixels = read_tile(plan.zoom, x, y)[part]
                    window = Window(col, row, width, height)
                    dataset.write(pixels.transpose(2, 0, 1), window=window)
            cog_translate(
                str(staging),
                str(tmp),
                cog_profile,
                overview_resampling="average",
                additional_cog_metadata=tags,
                in_memory=False,
                quiet=True,
            )
        tmp.replace(out)  # never a half-written export
    finally:
        staging.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    with rasterio.open(out) as check:
        assert check.width == plan.width and check.height == plan.height
    return out
