"""Tile packages (MBTiles 1.3, PMTiles v3): every tile touching the bbox at each zoom of a
range, byte-for-byte the served PNGs, with metadata saying the imagery is synthetic.

A package holds one tileset (one layer), as MBTiles and PMTiles readers expect: `layer`
"imagery" (the default, the served PNGs), "terrain" (Terrain-RGB PNGs, as
/worlds/{world}/terrain serves them) or "vector" (the MVTs of /worlds/{world}/vector,
gzip-compressed as tippecanoe writes them). The layer is named in the file name
(`{world}-terrain-z10-14.pmtiles`), so the three files of an offline exercise sit side
by side; terrain and vector packages are drawn from the plan and need no generated tiles.

The plan and the metadata are shared here; each package format is a subclass naming its
file writer (core/exports/mbtiles.py, core/exports/pmtiles.py). The writers are pure: they
take (z, x, y, bytes) in any order plus the metadata and write one file under a temporary
name, renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from core.bbox import AreaError, BBox, clip_to_world, tiles_in
from core.exports.base import Export, ExportTooLarge, ReadPng
from core.plans import plan_spec
from core.units import UnitKey
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
    tile_compression: str = "none"  # of the tile bytes: "none" or "gzip" (vector tiles)
    layer_type: str = "baselayer"  # MBTiles' `type`: baselayer or overlay
    vector_layers: list[dict[str, Any]] | None = None  # an MVT package's layers (TileJSON's)


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

LAYERS = ("imagery", "terrain", "vector")


@dataclass(frozen=True)
class PackageExport(Export):
    """Every tile touching a bbox at each zoom of a range, as one package file.

    Subclasses set `format`, `media_type`, `suffix` and `write_package`."""

    world: World
    bbox: BBox
    minzoom: int
    maxzoom: int
    tiles_by_zoom: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]
    layer: str = "imagery"  # one of LAYERS
    write_package: ClassVar[PackageWriter]
    accepts: ClassVar[tuple[str, ...]] = ("layer",)

    @property
    def zooms(self) -> list[int]:
        return [self.minzoom, self.maxzoom]

    @classmethod
    def plan(
        cls,
        world: World,
        bbox: BBox,
        minzoom: int,
        maxzoom: int,
        max_pixels: int,
        layer: str = "imagery",
    ) -> Self:
        if layer not in LAYERS:
            raise AreaError(f"unknown layer {layer!r}; a package holds one of {', '.join(LAYERS)}")
        if layer != "imagery" and plan_spec(world) is None:
            raise AreaError(
                f"world {world.id!r} has no plan (layout {world.layout!r}): no {layer} layer; "
                'terrain and vector packages exist for worlds with layout "plan" or "plan-island"'
            )
        clipped = clip_to_world(world, bbox)
        plan = cls(
            world,
            clipped,
            minzoom,
            maxzoom,
            tuple((z, tuple(tiles_in(world, clipped, z))) for z in range(minzoom, maxzoom + 1)),
            layer,
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
    def options(self) -> dict[str, Any]:
        return {} if self.layer == "imagery" else {"layer": self.layer}

    def units(self) -> list[UnitKey]:
        # Terrain and vector tiles are drawn from the plan: nothing to generate.
        return super().units() if self.layer == "imagery" else []

    @property
    def filename(self) -> str:
        layer = "" if self.layer == "imagery" else f"-{self.layer}"
        return f"{self.world.id}{layer}-z{self.minzoom}-{self.maxzoom}{self.suffix}"

    def size_fields(self) -> dict[str, int]:
        return {"tiles": self.tile_count}

    def describe(self) -> str:
        layer = "" if self.layer == "imagery" else f"{self.layer} "
        return f"{self.tile_count} {layer}tiles at z{self.minzoom}-{self.maxzoom}"

    def metadata(self, attribution: str) -> TilesetMetadata:
        imagery = self._imagery_metadata(attribution)
        if self.layer == "imagery":
            return imagery
        world = self.world
        extra = {"synthtiles": {**imagery.extra["synthtiles"], "layer": self.layer}}
        if self.layer == "terrain":
            extra["synthtiles"]["encoding"] = "mapbox"
            return dataclasses.replace(
                imagery,
                name=f"{world.name or world.id} terrain (synthetic)",
                description=(
                    f"Elevation of the fictional world {world.id!r} (seed {world.seed}) from "
                    "its plan, Terrain-RGB: height = -10000 + (R * 65536 + G * 256 + B) * 0.1 "
                    "metres; not a real place."
                ),
                extra=extra,
            )
        return dataclasses.replace(
            imagery,
            name=f"{world.name or world.id} vector tiles (synthetic)",
            description=(
                f"Roads, water, places, land cover and contours of the fictional world "
                f"{world.id!r} (seed {world.seed}) from its plan; not a real place."
            ),
            tile_format="pbf",
            tile_compression="gzip",
            layer_type="overlay",
            vector_layers=self._vector_layers(),
            extra=extra,
        )

    def _vector_layers(self) -> list[dict[str, Any]]:
        from core.layers.vector import VECTOR_LAYERS

        return [
            {"id": name, "minzoom": self.minzoom, "maxzoom": self.maxzoom, **layer}
            for name, layer in VECTOR_LAYERS.items()
        ]

    def _imagery_metadata(self, attribution: str) -> TilesetMetadata:
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
        read = read_png if self.layer == "imagery" else self._drawn_from_plan()
        tiles = ((z, x, y, read(z, x, y)) for z, x, y in self.tile_coords())
        self.write_package(out, tiles, self.metadata(attribution))
        return out

    def _drawn_from_plan(self) -> ReadPng:
        """The layer's tile bytes, made as its routes make them (imported here: planning
        an export, all the API does for most, loads no vector-tile code)."""
        world = self.world
        if self.layer == "terrain":
            from core.layers.terrain import terrain_tile

            return lambda z, x, y: terrain_tile(world, z, x, y)
        from core.layers.vector import vector_tile

        # mtime 0: the same tiles give the same bytes.
        return lambda z, x, y: gzip.compress(vector_tile(world, z, x, y), mtime=0)
