"""The plan on a canvas: per-pixel layers of one region at one zoom (what imagery draws).

Everything is evaluated at each pixel's global position, never at canvas indices, so two
overlapping canvases agree where they overlap and a region equals the same area computed
as part of a larger one. Lines are drawn with analytic anti-aliasing to the pixel
footprint, so a 9 m road is a faint line at 38 m/px and a crisp one at 2.4 m/px.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.classes import CLASS_INDEX
from core.noise import fractal_noise, hash_uniform
from core.plan.grid import CELLS, EARTH_CIRCUMFERENCE_M
from core.plan.lines import Polylines
from core.plan.plan import PlanChunk, WorldPlan
from core.plan.scenario import Scenario
from core.plan.settlements import Settlement

M_PER_CELL = EARTH_CIRCUMFERENCE_M / CELLS  # Mercator metres (true scale at the equator)
ROAD_NEAR_CAP_M = 60.0  # how far ``road_near`` looks for a road (metres)
SUN_AZIMUTH_DEG, SUN_ALTITUDE_DEG = 315.0, 40.0


@dataclass
class PlanRaster:
    zoom: int
    left: int
    top: int
    footprint_m: float  # ground size of a pixel (Mercator metres)
    x: np.ndarray  # (H, W) float64 positions in cell units
    y: np.ndarray
    classes: np.ndarray  # uint8 land-cover class
    elevation: np.ndarray  # float32 metres
    shade: np.ndarray  # float32 hillshade, 1 on flat ground
    water: np.ndarray  # float32 coverage of sea and lakes
    depth: np.ndarray  # float32 metres below the water surface (0 on land)
    sea: np.ndarray  # bool: the water here is the sea (else a lake)
    river: np.ndarray  # float32 coverage of rivers and streams
    river_near: np.ndarray  # float32 0..1: closeness to a watercourse (riverine belts)
    roads: dict[str, np.ndarray]  # kind -> float32 coverage
    road_near: np.ndarray  # float32 metres to the nearest road edge (capped)
    urban: np.ndarray  # float32 built-up density 0..1
    town_angle: np.ndarray  # float32 street-grid angle of the nearest settlement
    farm: np.ndarray  # float32 0..1
    moisture: np.ndarray  # float32 0..1
    slope: np.ndarray  # float32 rise over run at this zoom's pixel spacing
    forest_margin: np.ndarray  # float32 how far inside the forest rule (< 0: outside)
    # float32 how far inside the cropland rule's farming threshold (< 0: short of it), in
    # farm units; +-1 where a scenario polygon decided the land cover
    crop_margin: np.ndarray
    # float32 across a river's or stream's channel (0 elsewhere): metres from the nearest
    # centre line (signed: + to the left of the line's direction) and that line's half width
    channel_offset: np.ndarray | None = None
    channel_half: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.classes.shape

    def refined(self) -> PlanRaster:
        """The same ground at zoom + 1 (2x the pixels): positions at the finer pixel
        centres, every plan field repeated from its parent pixel. For drawing a pixel as
        the mean of four sub-pixels (anti-aliasing what a renderer computes from
        positions: textures, field parcels, clumps), not a finer plan."""
        quarter = np.array([-0.25, 0.25]) * (self.footprint_m / M_PER_CELL)  # cell units

        def twice(a: np.ndarray) -> np.ndarray:
            return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)

        x = twice(self.x) + np.tile(quarter, self.x.shape[1])[None, :]
        y = twice(self.y) + np.tile(quarter, self.y.shape[0])[:, None]
        fields = {
            name: twice(getattr(self, name))
            for name in (
                "classes", "elevation", "shade", "water", "depth", "sea", "river",
                "river_near", "road_near", "urban", "town_angle", "farm", "moisture",
                "slope", "forest_margin", "crop_margin",
            )
        }  # fmt: skip
        for name in ("channel_offset", "channel_half"):
            value = getattr(self, name)
            fields[name] = None if value is None else twice(value)
        return PlanRaster(
            zoom=self.zoom + 1,
            left=2 * self.left,
            top=2 * self.top,
            footprint_m=self.footprint_m / 2.0,
            x=x,
            y=y,
            roads={kind: twice(cov) for kind, cov in self.roads.items()},
            **fields,
        )


def positions(
    zoom: int, left: int, top: int, width: int, height: int, tile_size: int, pad: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cell-unit positions of pixel centres of a region in global pixels at ``zoom``."""
    scale = CELLS / float(tile_size * 2**zoom)
    xs = (left - pad + np.arange(width + 2 * pad) + 0.5) * scale
    ys = (top - pad + np.arange(height + 2 * pad) + 0.5) * scale
    return np.meshgrid(xs, ys)


def _lod(points: np.ndarray, widths: np.ndarray, spacing: float, min_spacing: float):
    """Drop vertices closer than ``min_spacing`` (cell units) apart: lines at coarse zooms
    need no 40 m vertices. End points are always kept."""
    step = max(1, int(min_spacing / max(spacing, 1e-9)))
    if step == 1 or len(points) <= 2:
        return points, widths
    keep = np.arange(0, len(points), step)
    if keep[-1] != len(points) - 1:
        keep = np.append(keep, len(points) - 1)
    return points[keep], widths[keep]


def draw_lines(
    lines: Polylines,
    kinds: tuple[str, ...],
    x0: float,
    y0: float,
    pixel: float,
    shape: tuple[int, int],
    near_m: float,
    width_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, distance to the nearest line edge in metres, capped at ``near_m``) of the
    lines of ``kinds`` on a pixel grid whose first pixel centre is (x0, y0) in cell units
    and whose pixels are ``pixel`` cells wide."""
    rows, cols = shape
    coverage = np.zeros(shape, np.float32)
    distance = np.full(shape, near_m, np.float32)
    reach = near_m / M_PER_CELL
    box = lines.in_box(
        x0 - pixel - reach - 1,
        y0 - pixel - reach - 1,
        x0 + cols * pixel + reach + 1,
        y0 + rows * pixel + reach + 1,
    )
    footprint_m = pixel * M_PER_CELL
    for index in np.flatnonzero(box):
        if lines.kinds[index] not in kinds:
            continue
        points, widths = lines.line(index)
        spacing = float(np.hypot(*(points[1] - points[0]))) if len(points) > 1 else 1.0
        points, widths = _lod(points, widths, spacing, 1.5 * pixel)
        half_w = widths.astype(np.float64) * width_scale / 2.0  # metres
        # Pixel coordinates of the vertices.
        px = (points[:, 0] - x0) / pixel
        py = (points[:, 1] - y0) / pixel
        pad = (half_w.max() + near_m) / footprint_m + 1.5
        for s in range(len(points) - 1):
            ax, ay, bx, by = px[s], py[s], px[s + 1], py[s + 1]
            c0 = max(int(np.floor(min(ax, bx) - pad)), 0)
            c1 = min(int(np.ceil(max(ax, bx) + pad)) + 1, cols)
            r0 = max(int(np.floor(min(ay, by) - pad)), 0)
            r1 = min(int(np.ceil(max(ay, by) + pad)) + 1, rows)
            if c0 >= c1 or r0 >= r1:
                continue
            gx = np.arange(c0, c1)[None, :] - ax
            gy = np.arange(r0, r1)[:, None] - ay
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            t = np.clip((gx * dx + gy * dy) / length2, 0.0, 1.0) if length2 > 0 else 0.0
            d = np.hypot(gx - t * dx, gy - t * dy) * footprint_m  # metres to the centre line
            hw = half_w[s] + (half_w[s + 1] - half_w[s]) * t
            # Area coverage of a pixel by a band of half width hw, to first order.
            cov = np.clip(
                (np.minimum(d + footprint_m / 2, hw) - np.maximum(d - footprint_m / 2, -hw))
                / footprint_m,
                0,
                1,
            )
            region = coverage[r0:r1, c0:c1]
            np.maximum(region, cov.astype(np.float32), out=region)
            edge = distance[r0:r1, c0:c1]
            np.minimum(edge, np.maximum(d - hw, 0).astype(np.float32), out=edge)
    return coverage, distance


CHANNEL_REACH = 2.0  # how far from a centre line draw_channels says where a pixel lies


def draw_channels(
    lines: Polylines,
    kinds: tuple[str, ...],
    x0: float,
    y0: float,
    pixel: float,
    offset: np.ndarray,
    half: np.ndarray,
    nearest: np.ndarray,
) -> None:
    """Where a pixel lies across the channels of ``kinds`` (the grid of ``draw_lines``):
    into ``offset`` its signed distance in metres from the nearest centre line (+ to the
    left of the line's direction), into ``half`` that line's half width, for pixels within
    CHANNEL_REACH half widths plus a pixel of a centre line nearer than ``nearest`` says
    (metres, updated: one array across calls); others are left as they are. A renderer
    lays a river's bed and low-water thread across it: the plan draws the channel as a
    band of one width, and a river's bed of sand is often wider than its water."""
    rows, cols = offset.shape
    footprint_m = pixel * M_PER_CELL
    best = nearest
    # Lines reach into the canvas by at most CHANNEL_REACH half widths: a few hundred
    # metres, under the one cell of margin here.
    box = lines.in_box(x0 - pixel - 1, y0 - pixel - 1, x0 + cols * pixel + 1, y0 + rows * pixel + 1)
    for index in np.flatnonzero(box):
        if lines.kinds[index] not in kinds:
            continue
        points, widths = lines.line(index)
        spacing = float(np.hypot(*(points[1] - points[0]))) if len(points) > 1 else 1.0
        points, widths = _lod(points, widths, spacing, 1.5 * pixel)
        half_w = widths.astype(np.float64) / 2.0
        px = (points[:, 0] - x0) / pixel
        py = (points[:, 1] - y0) / pixel
        pad = CHANNEL_REACH * half_w.max() / footprint_m + 1.5
        for s in range(len(points) - 1):
            ax, ay, bx, by = px[s], py[s], px[s + 1], py[s + 1]
            c0 = max(int(np.floor(min(ax, bx) - pad)), 0)
            c1 = min(int(np.ceil(max(ax, bx) + pad)) + 1, cols)
            r0 = max(int(np.floor(min(ay, by) - pad)), 0)
            r1 = min(int(np.ceil(max(ay, by) + pad)) + 1, rows)
            if c0 >= c1 or r0 >= r1:
                continue
            gx = np.arange(c0, c1)[None, :] - ax
            gy = np.arange(r0, r1)[:, None] - ay
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            if length2 <= 0:
                continue
            t = np.clip((gx * dx + gy * dy) / length2, 0.0, 1.0)
            d = np.hypot(gx - t * dx, gy - t * dy) * footprint_m
            hw = half_w[s] + (half_w[s + 1] - half_w[s]) * t
            # Which side: the cross product's sign (y grows south, so + is the left bank).
            side = np.where(dx * gy - dy * gx < 0, 1.0, -1.0)
            nearer = (d < best[r0:r1, c0:c1]) & (d < CHANNEL_REACH * hw + footprint_m)
            best[r0:r1, c0:c1] = np.where(nearer, d, best[r0:r1, c0:c1])
            region = offset[r0:r1, c0:c1]
            region[nearer] = (side * d)[nearer]
            region = half[r0:r1, c0:c1]
            region[nearer] = np.broadcast_to(hw, d.shape)[nearer]


def _hillshade(elev: np.ndarray, footprint_m: float, exaggeration: float) -> np.ndarray:
    """Lambertian shading of a padded (H+2, W+2) height field; 1 on flat ground."""
    gx = (elev[1:-1, 2:] - elev[1:-1, :-2]) / (2 * footprint_m) * exaggeration
    gy = (elev[2:, 1:-1] - elev[:-2, 1:-1]) / (2 * footprint_m) * exaggeration
    az, alt = np.radians(SUN_AZIMUTH_DEG), np.radians(SUN_ALTITUDE_DEG)
    # Light from the north-west (up-left on the map): x east, y south.
    lx, ly, lz = np.cos(alt) * np.sin(az), -np.cos(alt) * np.cos(az), np.sin(alt)
    norm = np.sqrt(gx * gx + gy * gy + 1.0)
    lambert = (-gx * lx - gy * ly + lz) / norm
    return (np.clip(lambert, 0.0, 1.0) / np.sin(alt)).astype(np.float32)


def _settlement_field(
    settlements: list[Settlement], x: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(built-up density, street-grid angle) from the settlements near the canvas."""
    density = np.zeros(x.shape, np.float32)
    angle = np.zeros(x.shape, np.float32)
    if not settlements:
        return density, angle
    u, v = x / CELLS, y / CELLS
    # Town edges are ragged: the distance is warped by noise at a few hundred metres.
    warp = 0.55 + 0.9 * fractal_noise(u, v, 0.9, 3, seed + 81)
    x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    for s in settlements:
        r = s.radius_m / M_PER_CELL
        if s.x < x0 - 4 * r or s.x > x1 + 4 * r or s.y < y0 - 4 * r or s.y > y1 + 4 * r:
            continue
        d = np.hypot(x - s.x, y - s.y)
        # Cut off at 4 radii per pixel (not per canvas): the same pixel gets the same value
        # whatever canvas it is part of.
        here = np.where(d < 4 * r, np.exp(-((d * warp / r) ** 2)), 0.0).astype(np.float32)
        closer = here > density
        density = np.where(closer, here, density)
        key = hash_uniform(np.array([int(s.x * 8)]), np.array([int(s.y * 8)]), seed + 83)[0]
        angle = np.where(closer, np.float32(key * np.pi / 2), angle)
    return density, angle


def rasterize(
    plan: WorldPlan,
    zoom: int,
    left: int,
    top: int,
    width: int,
    height: int,
    tile_size: int = 256,
) -> PlanRaster:
    """The plan's layers on the region whose top-left pixel is (left, top) at ``zoom``."""
    seed = plan.spec.seed
    pixel = CELLS / float(tile_size * 2**zoom)  # cell units per pixel
    footprint_m = pixel * M_PER_CELL
    px, py = positions(zoom, left, top, width, height, tile_size, pad=1)
    x, y = px[1:-1, 1:-1], py[1:-1, 1:-1]
    x0, y0 = float(x[0, 0]), float(y[0, 0])
    chunks = plan.chunks_in(float(px.min()), float(py.min()), float(px.max()), float(py.max()))

    terrain = plan.terrain
    elev_padded = terrain.coarse(px, py) + terrain.detail(px, py, 2 * footprint_m)
    elevation = elev_padded[1:-1, 1:-1].astype(np.float32)
    exaggeration = 1.0 + 0.5 * np.clip((footprint_m - 10.0) / 100.0, 0.0, 1.0)
    shade = _hillshade(elev_padded, footprint_m, exaggeration)

    water_level = np.full(x.shape, -np.inf, np.float32)
    farm = np.zeros(x.shape, np.float32)
    settlements: list[Settlement] = []
    rivers, roads = [], []
    for chunk in chunks:
        inside = chunk.interior.contains(x, y) if plan.spec.chunked else np.ones(x.shape, bool)
        water_level = np.where(inside, _level(chunk, x, y), water_level)
        farm = np.where(inside, chunk.sample(chunk.farm, x, y), farm)
        settlements += chunk.settlements
        rivers.append(chunk.rivers)
        roads.append(chunk.roads)

    slope_px = (
        np.hypot(
            elev_padded[1:-1, 2:] - elev_padded[1:-1, :-2],
            elev_padded[2:, 1:-1] - elev_padded[:-2, 1:-1],
        )
        / 2.0
        + 0.05
    )
    water = np.clip((water_level - elevation) / slope_px + 0.5, 0.0, 1.0).astype(np.float32)
    depth = np.clip(water_level - elevation, 0.0, None).astype(np.float32)
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    sea = water_level == 0.0

    shape = x.shape
    river = np.zeros(shape, np.float32)
    river_near = np.full(shape, 400.0, np.float32)
    road_cov = {kind: np.zeros(shape, np.float32) for kind in ("main", "minor", "track")}
    road_near = np.full(shape, ROAD_NEAR_CAP_M, np.float32)
    for lines in rivers:
        cov, near = draw_lines(lines, ("river",), x0, y0, pixel, shape, 400.0)
        river = np.maximum(river, cov)
        river_near = np.minimum(river_near, near)
        # A stream's banks count for a third of a river's: narrower gallery forests.
        cov, near = draw_lines(lines, ("stream",), x0, y0, pixel, shape, 400.0)
        river = np.maximum(river, cov)
        river_near = np.minimum(river_near, np.minimum(near * 3.0, 400.0))
    channel_offset = np.zeros(shape, np.float32)
    channel_half = np.zeros(shape, np.float32)
    nearest_centre = np.full(shape, np.inf)
    for lines in rivers:
        draw_channels(
            lines,
            ("river", "stream"),
            x0,
            y0,
            pixel,
            channel_offset,
            channel_half,
            nearest_centre,
        )
    for lines in roads:
        for kind in road_cov:
            cov, near = draw_lines(lines, (kind,), x0, y0, pixel, shape, ROAD_NEAR_CAP_M)
            road_cov[kind] = np.maximum(road_cov[kind], cov)
            road_near = np.minimum(road_near, near)

    urban, town_angle = _settlement_field(settlements, x, y, seed)
    u, v = x / CELLS, y / CELLS
    moisture = (
        fractal_noise(u, v, 40.0, 4, seed + 91) * 0.8
        + 0.2 * fractal_noise(u, v, 2.5, 3, seed + 93)
        + 0.25 * np.exp(-river_near / 150.0)
        + 0.15 * np.clip((elevation - 600.0) / 800.0, 0.0, 1.0)
    ).astype(np.float32)
    patch = cultivation_patch(u, v, seed)  # one noise pass for every rule that reads it
    classes = classify(
        elevation,
        water,
        river,
        urban,
        farm,
        moisture,
        river_near,
        slope_px / footprint_m,
        patch,
    )
    crop_margin = cropland_margin(farm, patch)
    if plan.spec.scenario is not None:
        _apply_scenario_areas(
            plan.spec.scenario, x, y, classes, water, depth, sea, urban, crop_margin
        )
    return PlanRaster(
        zoom=zoom,
        left=left,
        top=top,
        footprint_m=footprint_m,
        x=x,
        y=y,
        classes=classes,
        elevation=elevation,
        shade=shade,
        water=water,
        depth=depth,
        sea=sea,
        river=river,
        river_near=np.exp(-river_near / 120.0).astype(np.float32),
        roads=road_cov,
        road_near=road_near,
        urban=urban,
        town_angle=town_angle,
        farm=farm,
        moisture=moisture,
        slope=(slope_px / footprint_m).astype(np.float32),
        forest_margin=forest_margin(farm, moisture, river_near, patch),
        crop_margin=crop_margin,
        channel_offset=channel_offset,
        channel_half=channel_half,
    )


SCENARIO_LAKE_DEPTH_M = 6.0


def _apply_scenario_areas(
    scenario: Scenario,
    x: np.ndarray,
    y: np.ndarray,
    classes: np.ndarray,
    water: np.ndarray,
    depth: np.ndarray,
    sea: np.ndarray,
    urban: np.ndarray,
    crop_margin: np.ndarray,
) -> None:
    """Land cover where the scenario's polygons say (in file order: a later polygon wins);
    water polygons are lakes, land polygons are dry land whatever the relief. Their
    ``crop_margin`` is +-1: no renderer moves a polygon's border."""
    x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    for area in scenario.areas:
        ax0, ay0, ax1, ay1 = area.bounds
        if ax1 < x0 or ax0 > x1 or ay1 < y0 or ay0 > y1:
            continue
        inside = area.contains(x, y)
        if not inside.any():
            continue
        classes[inside] = CLASS_INDEX[area.landcover]
        crop_margin[inside] = 1.0 if area.landcover == "cropland" else -1.0
        if area.landcover == "water":
            water[inside] = 1.0
            depth[inside] = np.maximum(depth[inside], SCENARIO_LAKE_DEPTH_M)
            sea[inside] = False
        else:
            water[inside] = 0.0
            depth[inside] = 0.0
        if area.landcover == "urban":
            urban[inside] = np.maximum(urban[inside], 0.8)


def _level(chunk: PlanChunk, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return chunk.nearest(chunk.water_level, x, y)


CROPLAND_FARMED = 0.42  # cropland where the farmed field exceeds this (``classify``)
CROPLAND_SLOPE = 0.2  # and the ground is gentler than this


def cultivation_patch(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    """The noise that breaks farmland, forest and bare ground into patches (-0.5..0.5)."""
    return fractal_noise(u, v, 1.6, 3, seed + 95) - 0.5


def cropland_margin(farm: np.ndarray, patch: np.ndarray) -> np.ndarray:
    """How far a position lies past ``classify``'s farming threshold for cropland, in farm
    units (> 0: farmed enough; slope, forest and the other rules left out): lets a renderer
    draw the border of farmland along whole fields instead of the noise's smooth curve."""
    return (farm + 0.6 * patch - CROPLAND_FARMED).astype(np.float32)


def forest_margin(
    farm: np.ndarray,
    moisture: np.ndarray,
    river_near: np.ndarray,
    patch: np.ndarray,
) -> np.ndarray:
    """How far a position lies inside ``classify``'s forest rule, in moisture units (> 0
    inside, < 0 outside; the slope rule is left out): lets a renderer thin trees out over
    an ecotone instead of stopping at the class border. (``patch``: cultivation_patch.)"""
    farmed = farm + 0.6 * patch
    belt = np.exp(-river_near / 90.0)
    wet = np.minimum(moisture + 0.25 * patch - 0.6, 0.45 - farmed)
    riverine = np.minimum(0.2 * (belt - 0.5), 0.75 - farmed)
    return np.maximum(wet, riverine).astype(np.float32)


def classify(
    elevation: np.ndarray,
    water: np.ndarray,
    river: np.ndarray,
    urban: np.ndarray,
    farm: np.ndarray,
    moisture: np.ndarray,
    river_near: np.ndarray,
    slope: np.ndarray,
    patch: np.ndarray,
) -> np.ndarray:
    """Land cover from the plan's layers (farmland near people, forest where it is wet or
    steep and unfarmed, riverine belts, bare rock and dry ground; ``patch``:
    cultivation_patch)."""
    farmed = farm + 0.6 * patch
    belt = np.exp(-river_near / 90.0)
    classes = np.full(elevation.shape, CLASS_INDEX["grassland"], np.uint8)
    classes[moisture + 0.3 * patch < 0.36] = CLASS_INDEX["bare"]
    forest = ((moisture + 0.25 * patch > 0.6) & (farmed < 0.45)) | ((belt > 0.5) & (farmed < 0.75))
    forest |= (slope > 0.25) & (moisture > 0.4)
    classes[forest] = CLASS_INDEX["forest"]
    classes[(farmed > CROPLAND_FARMED) & ~forest & (slope < CROPLAND_SLOPE)] = CLASS_INDEX[
        "cropland"
    ]
    classes[elevation > 1700.0 + 300.0 * patch] = CLASS_INDEX["bare"]
    classes[urban > 0.42 + 0.3 * patch] = CLASS_INDEX["urban"]
    classes[(water > 0.5) | (river > 0.5)] = CLASS_INDEX["water"]
    return classes
