"""Mapbox Vector Tiles (MVT 2.1) of a world's plan: water, waterways, roads, bridges,
places, land cover and contour lines, for topographic maps drawn by the client.

Lines and places come straight from the plan's polylines and settlements (the ones the
imagery is drawn from, as features.geojson's do), so a road in a tile lies on the road in
the imagery. Areas (sea, lakes, land cover) and contours have no vectors in the plan: they
are traced from the plan raster (contours from the terrain tiles' surface,
core/layers/terrain.py) of the tile's own zoom plus a margin, so they are as
detailed as the zoom shows and continue across tile borders (the raster is a function of
position, never of the canvas). Geometry is clipped to the tile plus ``BUFFER`` and
simplified to about half a pixel; the encoder is mapbox-vector-tile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import contourpy
import mapbox_vector_tile
import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from core.classes import CLASS_INDEX
from core.layers.terrain import terrain_heights
from core.plan.grid import CELLS
from core.plan.lines import Polylines
from core.plan.plan import PlanChunk, WorldPlan
from core.plan.raster import M_PER_CELL, PlanRaster, rasterize
from core.plans import world_plan
from core.world import World

EXTENT = 4096  # tile units across a tile (the MVT default)
BUFFER = 64  # tile units kept beyond each edge, so lines and fills meet across borders
PAD_PX = 8  # raster pixels traced beyond each edge (more than BUFFER, so no seam shows)
SIMPLIFY_PX = 0.5  # geometry is simplified to this fraction of a pixel
MIN_AREA_PX = 4.0  # polygons smaller than this many pixels are speckle at this zoom
ABUTMENT_M = 6.0  # a bridge reaches this far beyond the water's edge on either side
MAX_BRIDGE_M = 400.0  # a longer stretch of road in a river's reach runs along it
CONTOUR_SMOOTH_PX = 1.0  # Gaussian sigma (well inside PAD_PX: tiles still agree)
MIN_CONTOUR_PX = 12.0  # closed contours shorter than this are noise, not hills
LANDCOVER = ("forest", "cropland", "grassland", "bare", "urban")

# The layers and their fields, as TileJSON's `vector_layers` lists them.
VECTOR_LAYERS: dict[str, dict[str, Any]] = {
    "water": {
        "description": "Sea and lakes (polygons)",
        "fields": {"kind": "sea | lake"},
    },
    "waterway": {
        "description": "Rivers and streams (lines, centre lines of the imagery's channels)",
        "fields": {"kind": "river | stream", "width_m": "channel width in metres"},
    },
    "landcover": {
        "description": "Land cover (polygons) as the imagery shows it",
        "fields": {"class": " | ".join(LANDCOVER)},
    },
    "contour": {
        "description": "Contour lines; the interval grows as the zoom falls "
        "(100 m at z10-11, 50 m at z12, 20 m at z13, 10 m from z14)",
        "fields": {"ele": "height in metres", "index": "1 on every fifth (index) line, else 0"},
    },
    "road": {
        "description": "Roads by class (lines)",
        "fields": {"kind": "main | minor | track", "width_m": "road width in metres"},
    },
    "bridge": {
        "description": "Where a road crosses a river or a lake (lines)",
        "fields": {"kind": "main | minor | track (the road's)"},
    },
    "place": {
        "description": "Settlements (points)",
        "fields": {"kind": "city | town | village", "name": "name", "population": "people"},
    },
}


class NoPlan(LookupError):
    """The world is drawn from land-cover noise and has no plan to draw vectors from."""

    def __init__(self, world: World) -> None:
        super().__init__(
            f"world {world.id!r} has no plan (layout {world.layout!r}); vector tiles and the "
            'map style exist for worlds with layout "plan" or "plan-island"'
        )


def contour_interval(z: int) -> int:
    """Metres between contour lines at zoom z: lines stay a few pixels apart on hills."""
    if z <= 11:
        return 100
    if z == 12:
        return 50
    if z == 13:
        return 20
    return 10


@dataclass(frozen=True)
class TileFrame:
    """Tile (z, x, y) of a world's grid: converts positions into tile units."""

    z: int
    x: int
    y: int
    tile_size: int

    @property
    def units_per_px(self) -> float:
        return EXTENT / self.tile_size

    @property
    def metres_per_unit(self) -> float:
        # Mercator metres at the equator, as the plan raster measures widths.
        return M_PER_CELL * CELLS / (2**self.z * EXTENT)

    def from_cells(self, points: np.ndarray) -> np.ndarray:
        """Tile units of positions in plan cell units."""
        scale = 2**self.z / CELLS
        return (points * scale - np.array([self.x, self.y])) * EXTENT

    def cell_box(self, margin_units: float) -> tuple[float, float, float, float]:
        """The tile plus a margin, in cell units (x0, y0, x1, y1)."""
        cells = CELLS / 2**self.z
        pad = margin_units / EXTENT * cells
        return (
            self.x * cells - pad,
            self.y * cells - pad,
            (self.x + 1) * cells + pad,
            (self.y + 1) * cells + pad,
        )

    def clip(self, geometry: BaseGeometry) -> BaseGeometry:
        return shapely.clip_by_rect(geometry, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)


def _parts(geometry: BaseGeometry, kind: type) -> Iterator[BaseGeometry]:
    """The non-empty pieces of ``kind`` (LineString or Polygon) in a clipped geometry."""
    if geometry.is_empty:
        return
    if isinstance(geometry, kind):
        yield geometry
        return
    for part in getattr(geometry, "geoms", ()):
        yield from _parts(part, kind)


def _feature(geometry: BaseGeometry, properties: dict[str, Any]) -> dict[str, Any]:
    return {"geometry": geometry, "properties": properties}


# -- lines and points of the plan ------------------------------------------------------


def _lines(
    frame: TileFrame, chunks: list[PlanChunk], which: str, kinds: tuple[str, ...]
) -> list[tuple[LineString, str, float]]:
    """(clipped line in tile units, kind, width in metres) of the plan's ``which``
    (``roads`` or ``rivers``) lines of ``kinds`` that reach the tile."""
    box = frame.cell_box(2 * BUFFER)
    tolerance = SIMPLIFY_PX * frame.units_per_px
    out = []
    for chunk in chunks:
        lines: Polylines = getattr(chunk, which)
        for index in np.flatnonzero(lines.in_box(*box)):
            kind = lines.kinds[index]
            if kind not in kinds:
                continue
            points, widths = lines.line(index)
            for run, width in _width_runs(points, widths):
                line = frame.clip(LineString(frame.from_cells(run)))
                for part in _parts(line, LineString):
                    out.append((part.simplify(tolerance), kind, width))
    return out


def _width_runs(points: np.ndarray, widths: np.ndarray) -> Iterator[tuple[np.ndarray, float]]:
    """Pieces of a line over which its width stays within a band of about 20 %, each with
    its mean width (a river widens downstream: a map draws it so). Consecutive pieces
    share a vertex, so the line stays joined."""
    if len(points) < 2:
        return
    band = np.round(np.log2(np.maximum(widths, 0.5)) * 4).astype(np.int64)
    cuts = np.flatnonzero(np.diff(band)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts + 1, [len(points)]])
    for a, b in zip(starts, np.minimum(ends, len(points)), strict=True):
        if b - a >= 2:
            yield points[a:b], float(widths[a:b].mean())


@dataclass(frozen=True)
class Crossings:
    """What a road needs a bridge for: rivers (not streams: those have culverts and
    fords) and open water. ``reach`` is the area a bridge spans (channel width plus the
    abutments), ``water`` what it must pass over (a river's centre line or a lake)."""

    reach: BaseGeometry
    water: BaseGeometry


def _crossings(frame: TileFrame, chunks: list[PlanChunk], water: list[BaseGeometry]) -> Crossings:
    box = frame.cell_box(2 * BUFFER)
    near = (-2 * BUFFER, -2 * BUFFER, EXTENT + 2 * BUFFER, EXTENT + 2 * BUFFER)
    segments, radii, centre_lines = [], [], []
    for chunk in chunks:
        rivers = chunk.rivers
        for index in np.flatnonzero(rivers.in_box(*box)):
            if rivers.kinds[index] != "river":
                continue
            points, widths = rivers.line(index)
            units = frame.from_cells(points)
            a, b = units[:-1], units[1:]
            # Only the segments near the tile: a river's other kilometres need no buffer.
            keep = ((np.minimum(a, b) <= near[2]) & (np.maximum(a, b) >= near[0])).all(1)
            if not keep.any():
                continue
            segments.append(np.stack([a[keep], b[keep]], 1))
            radii.append(widths[:-1][keep] / 2.0 + ABUTMENT_M)
            centre_lines.append(LineString(units))
    reach = list(water)
    if segments:
        half = np.concatenate(radii) / frame.metres_per_unit
        reach += list(shapely.buffer(shapely.linestrings(np.concatenate(segments)), half))
    if not reach:
        return Crossings(Polygon(), Polygon())
    return Crossings(shapely.union_all(reach), shapely.union_all([*water, *centre_lines]))


def _bridges(
    roads: list[tuple[LineString, str, float]], crossings: Crossings, frame: TileFrame
) -> list[dict[str, Any]]:
    """Pieces of road inside a crossing's reach that pass over its water: a road running
    along a bank, inside the reach but never over the river, gets no bridge."""
    if crossings.reach.is_empty:
        return []
    reach = crossings.reach
    shapely.prepare(reach)
    shapely.prepare(crossings.water)
    out = []
    for line, kind, _ in roads:
        if not reach.intersects(line):
            continue
        for part in _parts(line.intersection(reach), LineString):
            over_water = crossings.water.intersects(part)
            if over_water and 0 < part.length <= MAX_BRIDGE_M / frame.metres_per_unit:
                out.append(_feature(part, {"kind": kind}))
    return out


def _waterways(
    frame: TileFrame, chunks: list[PlanChunk], water: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Rivers and streams, ended where they reach a lake or the sea (the plan's lines run
    on to their outlet; on a map the water area takes over)."""
    areas = shapely.union_all([f["geometry"] for f in water]) if water else Polygon()
    shapely.prepare(areas)
    out = []
    for line, kind, width in _lines(frame, chunks, "rivers", ("river", "stream")):
        if areas.intersects(line):
            pieces = list(_parts(line.difference(areas), LineString))
        else:
            pieces = [line]
        out += [_feature(p, {"kind": kind, "width_m": round(width, 1)}) for p in pieces]
    return out


def _places(frame: TileFrame, chunks: list[PlanChunk]) -> list[dict[str, Any]]:
    """Settlements inside the tile itself (not its buffer: one label per place)."""
    out = []
    for chunk in chunks:
        for place in chunk.settlements:
            tx, ty = frame.from_cells(np.array([place.x, place.y]))
            if 0 <= tx < EXTENT and 0 <= ty < EXTENT:
                properties = {"kind": place.tier, "name": place.name}
                properties["population"] = int(place.population)
                out.append(_feature(Point(tx, ty), properties))
    # Bigger places first: clients that place labels in order keep the important ones.
    out.sort(key=lambda f: -f["properties"]["population"])
    return out


# -- areas and contours traced from the raster ------------------------------------------


def _grid(frame: TileFrame, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Tile units of the pixel centres of a raster padded by PAD_PX."""
    rows, cols = shape
    k = frame.units_per_px
    return (np.arange(cols) - PAD_PX + 0.5) * k, (np.arange(rows) - PAD_PX + 0.5) * k


def _areas(frame: TileFrame, field: np.ndarray, grid) -> list[Polygon]:
    """Polygons where ``field`` (0..1 coverage, padded) is at least one half."""
    xs, ys = grid
    if field.max() < 0.5:
        return []
    generator = contourpy.contour_generator(xs, ys, field, fill_type=contourpy.FillType.OuterOffset)
    points, offsets = generator.filled(0.5, 2.0)
    tolerance = SIMPLIFY_PX * frame.units_per_px
    min_area = MIN_AREA_PX * frame.units_per_px**2
    out = []
    for ring_points, ring_offsets in zip(points, offsets, strict=True):
        rings = [ring_points[a:b] for a, b in pairwise(ring_offsets)]
        polygon = Polygon(rings[0], [r for r in rings[1:] if len(r) >= 4])
        if polygon.area < min_area:
            continue
        polygon = frame.clip(shapely.make_valid(polygon.simplify(tolerance)))
        out += [p for p in _parts(polygon, Polygon) if p.area >= min_area]
    return out


def _water(frame: TileFrame, raster: PlanRaster, grid) -> list[dict[str, Any]]:
    features = []
    for kind, here in (("sea", raster.sea), ("lake", ~raster.sea)):
        for polygon in _areas(frame, np.where(here, raster.water, 0.0), grid):
            features.append(_feature(polygon, {"kind": kind}))
    return features


def _land_classes(raster: PlanRaster) -> np.ndarray:
    """Classes with every inland water pixel given its nearest land class: land cover
    runs on under rivers and lakes (drawn over it), so no gap opens where a line is
    narrower than the raster's river. The sea stays out of it."""
    classes = raster.classes
    inland = (classes == CLASS_INDEX["water"]) & ~(raster.sea & (raster.water >= 0.5))
    if not inland.any() or (classes == CLASS_INDEX["water"]).all():
        return classes
    near = classes == CLASS_INDEX["water"]
    _, (rows, cols) = ndimage.distance_transform_edt(near, return_indices=True)
    return np.where(inland, classes[rows, cols], classes)


def _landcover(frame: TileFrame, raster: PlanRaster, grid) -> list[dict[str, Any]]:
    features = []
    classes = _land_classes(raster)
    for name in LANDCOVER:
        mask = classes == CLASS_INDEX[name]
        if not mask.any():
            continue
        # A slight blur turns the pixel staircase into a smooth edge before tracing.
        field = ndimage.gaussian_filter(mask.astype(np.float32), 0.7)
        for polygon in _areas(frame, field, grid):
            features.append(_feature(polygon, {"class": name}))
    return features


def _contours(frame: TileFrame, heights: np.ndarray, grid) -> list[dict[str, Any]]:
    xs, ys = grid
    interval = contour_interval(frame.z)
    low, high = float(heights.min()), float(heights.max())
    first = max(interval, int(np.ceil(low / interval)) * interval)  # no line at sea level
    # Smoothed by about a pixel: contours follow the landform, not each pixel's detail.
    smooth = ndimage.gaussian_filter(heights.astype(np.float64), CONTOUR_SMOOTH_PX)
    generator = contourpy.contour_generator(xs, ys, smooth, line_type=contourpy.LineType.Separate)
    tolerance = SIMPLIFY_PX * frame.units_per_px
    features = []
    for level in range(first, int(np.floor(high)) + 1, interval):
        index = int(level % (5 * interval) == 0)
        for points in generator.lines(level):
            if len(points) < 2:
                continue
            line = LineString(points)
            if line.is_closed and line.length < MIN_CONTOUR_PX * frame.units_per_px:
                continue
            line = frame.clip(line.simplify(tolerance))
            for part in _parts(line, LineString):
                features.append(_feature(part, {"ele": level, "index": index}))
    return features


# -- the tile ---------------------------------------------------------------------------


def _plan(world: World) -> WorldPlan:
    plan = world_plan(world)
    if plan is None:
        raise NoPlan(world)
    return plan


def vector_layers(world: World, z: int, x: int, y: int) -> dict[str, list[dict[str, Any]]]:
    """The tile's features by layer, geometry in tile units (y down, 0..EXTENT)."""
    plan = _plan(world)
    size = world.tile_size
    frame = TileFrame(z, x, y, size)
    left, top, side = x * size - PAD_PX, y * size - PAD_PX, size + 2 * PAD_PX
    raster = rasterize(plan, z, left, top, side, side, size)
    grid = _grid(frame, raster.shape)
    chunks = plan.chunks_in(*frame.cell_box(2 * BUFFER))
    water = _water(frame, raster, grid)
    roads = _lines(frame, chunks, "roads", ("main", "minor", "track"))
    crossings = _crossings(frame, chunks, [f["geometry"] for f in water])
    return {
        "landcover": _landcover(frame, raster, grid),
        # The surface the terrain tiles encode (lakes flat, rivers cut): contours, hillshade
        # and 3D terrain of one map agree.
        "contour": _contours(frame, terrain_heights(world, z, left, top, side, side), grid),
        "water": water,
        "waterway": _waterways(frame, chunks, water),
        "road": [
            _feature(line, {"kind": kind, "width_m": round(width, 1)})
            for line, kind, width in roads
        ],
        "bridge": _bridges(roads, crossings, frame),
        "place": _places(frame, chunks),
    }


def vector_tile(world: World, z: int, x: int, y: int) -> bytes:
    """The MVT (uncompressed protobuf) of tile z/x/y; raises NoPlan for worlds without one."""
    layers = [
        {"name": name, "features": features}
        for name, features in vector_layers(world, z, x, y).items()
        if features
    ]
    return mapbox_vector_tile.encode(
        layers,
        default_options={"extents": EXTENT, "y_coord_down": True, "check_winding_order": True},
    )
