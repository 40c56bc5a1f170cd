"""Cloud-Optimized GeoTIFF of one zoom's pixels inside a bbox.

The raster keeps the XYZ pixel grid of its zoom (no resampling) and is cropped to the pixels
the bbox touches, so it lines up with the tiles exactly; the bounds therefore snap outwards
to that grid by less than one pixel. Overviews are internal (average), compression is
DEFLATE with a horizontal predictor, and tags say the imagery is synthetic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from core.bbox import ORIGIN, AreaError, BBox, clip_to_world, pixel_window
from core.exports.base import Export, ExportTooLarge, ReadPng
from core.png import decode_tile
from core.world import World

GDAL_CACHE_MB = 128  # GDAL's block cache while a COG is written


@dataclass(frozen=True)
class CogExport(Export):
    """One zoom's pixels inside a bbox, as a single GeoTIFF."""

    world: World
    zoom: int
    bbox: BBox
    px0: int  # pixel window in global pixel coordinates at this zoom (end exclusive)
    py0: int
    px1: int
    py1: int
    format: ClassVar[str] = "cog"
    media_type: ClassVar[str] = "image/tiff"
    suffix: ClassVar[str] = ".tif"

    @property
    def zooms(self) -> list[int]:
        return [self.zoom]

    @classmethod
    def plan(cls, world: World, bbox: BBox, minzoom: int, maxzoom: int, max_pixels: int) -> Self:
        if minzoom != maxzoom:
            raise AreaError(
                f"a COG export has one zoom, got {minzoom}-{maxzoom}; "
                "use format mbtiles or pmtiles for a zoom range"
            )
        clipped = clip_to_world(world, bbox)
        plan = cls(world, minzoom, clipped, *pixel_window(clipped, minzoom, world.tile_size))
        if plan.pixels > max_pixels:
            raise ExportTooLarge(
                f"export of {plan.width}x{plan.height} px ({plan.pixels / 1e6:.1f} Mpx) at zoom "
                f"{minzoom} exceeds the limit of {max_pixels / 1e6:.0f} Mpx; "
                "use a smaller bbox or zoom"
            )
        return plan

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

    def tile_coords(self) -> Iterator[tuple[int, int, int]]:
        return ((self.zoom, x, y) for x, y in self.tiles())

    @property
    def filename(self) -> str:
        return f"{self.world.id}-z{self.zoom}-{self.width}x{self.height}{self.suffix}"

    def size_fields(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height}

    def describe(self) -> str:
        return f"{self.width}x{self.height} px at z{self.zoom}, EPSG:3857"

    def write(self, read_png: ReadPng, out: Path, attribution: str) -> Path:
        # The attribution is not written: the tags below say what the imagery is.
        return write_cog(self, lambda z, x, y: decode_tile(read_png(z, x, y)), out)


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

    def fill(dataset: Any) -> None:
        for x, y, part, (col, row, width, height) in _tile_windows(plan):
            pixels = read_tile(plan.zoom, x, y)[part]
            dataset.write(pixels.transpose(2, 0, 1), window=Window(col, row, width, height))

    staged_cog(out, profile, fill, tags, predictor=2)
    with rasterio.open(out) as check:
        assert check.width == plan.width and check.height == plan.height
    return out


def staged_cog(
    out: Path,
    profile: dict[str, Any],
    fill: Callable[[Any], None],
    tags: dict[str, str],
    predictor: int,
    nodata: float | None = None,
) -> Path:
    """Writes a COG at `out`: `fill(dataset)` writes a tiled GeoTIFF of `profile` on disk,
    window by window, which is then translated to a COG (internal average overviews,
    DEFLATE with `predictor`, `tags`) and renamed into place: complete or not at all."""
    # Imported here, so that planning an export (all the API does for most) loads no GDAL.
    import rasterio
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    # Window by window into a tiled GeoTIFF on disk, then translated to a COG from there:
    # memory stays bounded by a window and GDAL's cache, whatever the export's size (the
    # whole mosaic in memory took 1.9 GB for 88 Mpx).
    cog_profile = cog_profiles.get("deflate")
    cog_profile.update({"predictor": predictor, "blockxsize": 256, "blockysize": 256})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    staging = out.with_name(f".{out.name}.staging.tif")
    try:
        # GDAL's block cache defaults to 5% of the machine's memory: bound it as well.
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            with rasterio.open(staging, "w", **profile) as dataset:
                fill(dataset)
            cog_translate(
                str(staging),
                str(tmp),
                cog_profile,
                nodata=nodata,
                overview_resampling="average",
                additional_cog_metadata=tags,
                in_memory=False,
                quiet=True,
            )
        tmp.replace(out)  # never a half-written export
    finally:
        staging.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out
