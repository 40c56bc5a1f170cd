"""DEM export: a world's elevation as a Float32 Cloud-Optimized GeoTIFF in metres.

The raster is a COG export's grid (one zoom's XYZ pixels inside the bbox, EPSG:3857, no
resampling), so it lies exactly under the imagery COG of the same bbox and zoom. Heights are
the terrain tiles' (core/layers/terrain.py): lakes at their surface, rivers on the valley
floor. The sea is nodata, or with `sea_depth` the sea floor (negative metres). It needs no
model tiles: it is written straight from the plan, block by block, so memory stays bounded
whatever the size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from core.bbox import AreaError, BBox
from core.exports.base import ReadPng
from core.exports.cog import CogExport, staged_cog
from core.layers.terrain import TERRAIN_VERSION, NoPlanRelief, terrain_region
from core.plans import plan_spec
from core.units import UnitKey
from core.world import World

NODATA = -9999.0
BLOCK = 512  # pixels a side computed at once (a few MB of float64 while it is made)


@dataclass(frozen=True)
class DemExport(CogExport):
    """One zoom's elevation inside a bbox, as a single-band Float32 GeoTIFF."""

    sea_depth: bool = False  # the sea floor at sea instead of nodata
    format: ClassVar[str] = "dem"
    # GeoTIFF's registered media type; the suffix says what the file holds, and GDAL and
    # QGIS open it by its last part.
    media_type: ClassVar[str] = "image/tiff; application=geotiff"
    suffix: ClassVar[str] = ".dem.tif"
    accepts: ClassVar[tuple[str, ...]] = ("sea_depth",)

    @classmethod
    def plan(
        cls,
        world: World,
        bbox: BBox,
        minzoom: int,
        maxzoom: int,
        max_pixels: int,
        sea_depth: bool = False,
    ) -> Self:
        if plan_spec(world) is None:
            raise AreaError(str(NoPlanRelief(world)))
        if minzoom != maxzoom:
            raise AreaError(
                f"a DEM export has one zoom (its pixel grid), got {minzoom}-{maxzoom}; "
                "ask for zoom N"
            )
        grid = super().plan(world, bbox, minzoom, maxzoom, max_pixels)
        return dataclasses.replace(grid, sea_depth=bool(sea_depth))

    @property
    def options(self) -> dict[str, Any]:
        return {"sea_depth": True} if self.sea_depth else {}

    def units(self) -> list[UnitKey]:
        return []  # drawn from the plan: no tiles to generate

    @property
    def filename(self) -> str:
        return f"{self.world.id}-z{self.zoom}-{self.width}x{self.height}{self.suffix}"

    def describe(self) -> str:
        sea = "sea floor at sea" if self.sea_depth else f"nodata {NODATA:g} at sea"
        return f"{self.width}x{self.height} px at z{self.zoom}, Float32 metres ({sea}), EPSG:3857"

    def blocks(self) -> Iterator[tuple[int, int, int, int]]:
        """(col, row, width, height) windows of the raster, BLOCK pixels a side."""
        for row in range(0, self.height, BLOCK):
            for col in range(0, self.width, BLOCK):
                yield col, row, min(BLOCK, self.width - col), min(BLOCK, self.height - row)

    def heights(self, col: int, row: int, width: int, height: int) -> np.ndarray:
        """Float32 metres of one window of the raster, with nodata (or the floor) at sea."""
        region = terrain_region(
            self.world, self.zoom, self.px0 + col, self.py0 + row, width, height
        )
        fill = region.ground if self.sea_depth else np.float32(NODATA)
        return np.where(region.sea, fill, region.heights).astype(np.float32)

    def write(self, read_png: ReadPng, out: Path, attribution: str) -> Path:
        # No tiles are read: the heights come from the plan.
        return write_dem(self, out)


def write_dem(plan: DemExport, out: Path) -> Path:
    from rasterio.transform import from_bounds
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "width": plan.width,
        "height": plan.height,
        "crs": "EPSG:3857",
        "transform": from_bounds(*plan.bounds_3857, plan.width, plan.height),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    tags = {
        "SYNTHETIC": "true",
        "DESCRIPTION": "Synthetic elevation (metres) of a synthtiles world plan; not a real place.",
        "SYNTHTILES_WORLD": plan.world.id,
        "SYNTHTILES_SEED": str(plan.world.seed),
        "SYNTHTILES_ZOOM": str(plan.zoom),
        "SYNTHTILES_BBOX": ",".join(f"{v:.8f}" for v in plan.bbox),
        "SYNTHTILES_TERRAIN_VERSION": str(TERRAIN_VERSION),
        "SYNTHTILES_SEA": "sea floor" if plan.sea_depth else "nodata",
    }

    def fill(dataset: Any) -> None:
        dataset.set_band_description(1, "elevation")
        for col, row, width, height in plan.blocks():
            window = Window(col, row, width, height)
            dataset.write(plan.heights(col, row, width, height), 1, window=window)

    # Predictor 3 (floating point) is what makes DEFLATE work on Float32 heights.
    return staged_cog(out, profile, fill, tags, predictor=3, nodata=NODATA)
