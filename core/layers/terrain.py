"""Elevation from a world's plan: the surface terrain tiles and DEM exports are made of.

Heights are the relief imagery is shaded with (``rasterize``'s ``elevation``: the plan's
coarse relief plus the detail a pixel of that zoom resolves), evaluated at the same pixel
centres, so terrain, hillshade and imagery line up pixel for pixel. Water is flat at its
surface: a lake at its spill level, the sea at 0 m. A river lies on its valley floor: its
pixels are cut below the lowest ground within ``BANK_REACH_M`` (the imagery draws rivers
along the plan grid's drainage, which the fine relief does not know about), so a river is
always lower than its banks.

Like ``rasterize``, everything is a function of each pixel's global position, so two
overlapping regions agree where they overlap and tiles join without seams.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image
from scipy import ndimage

from core.plan.grid import CELLS
from core.plan.plan import WorldPlan
from core.plan.raster import M_PER_CELL, draw_lines, positions
from core.plan.scenario import Scenario
from core.plans import world_plan
from core.world import World

Encoding = Literal["mapbox", "terrarium"]
ENCODINGS: tuple[Encoding, ...] = ("mapbox", "terrarium")
ENCODING_HELP = (
    "mapbox (Terrain-RGB: height = -10000 + (R*65536 + G*256 + B) * 0.1) or "
    "terrarium (height = R*256 + G + B/256 - 32768); metres"
)

# Bump when the heights change: it is part of the terrain tiles' cache key.
TERRAIN_VERSION = 1
# How far a river looks for its valley floor, in metres (at least one pixel, at most
# MAX_REACH_PX pixels: a wide river's middle is then cut below its own nearer ground).
BANK_REACH_M = 60.0
MAX_REACH_PX = 24
# How far below that floor a river's surface lies (m): strictly lower than any bank.
RIVER_CUT_M = 1.5


class NoPlanRelief(LookupError):
    """The world has no plan (layout "procedural"), hence no relief to serve."""

    def __init__(self, world: World) -> None:
        super().__init__(
            f"world {world.id!r} has no plan relief (layout {world.layout!r}); terrain and "
            'DEM exports exist for worlds with layout "plan" or "plan-island"'
        )


@dataclass(frozen=True)
class TerrainRegion:
    """A region's elevation in metres, (H, W) each."""

    heights: np.ndarray  # float32: the surface (water at its level, rivers cut in)
    ground: np.ndarray  # float32: the relief under the water (the sea floor at sea)
    sea: np.ndarray  # bool: the sea (DEM exports write nodata or the sea floor there)


def plan_of(world: World) -> WorldPlan:
    plan = world_plan(world)
    if plan is None:
        raise NoPlanRelief(world)
    return plan


def reach_px(footprint_m: float) -> int:
    """The river's valley-floor search radius in pixels at this pixel size."""
    return int(np.clip(np.ceil(BANK_REACH_M / footprint_m), 1, MAX_REACH_PX))


def terrain_region(
    world: World, z: int, px: int, py: int, width: int, height: int
) -> TerrainRegion:
    """Elevation of the region whose top-left pixel is (px, py) in global pixels at z."""
    plan = plan_of(world)
    tile_size = world.tile_size
    pixel = CELLS / float(tile_size * 2**z)  # cell units per pixel, as rasterize has it
    footprint_m = pixel * M_PER_CELL
    pad = reach_px(footprint_m)
    x, y = positions(z, px, py, width, height, tile_size, pad=pad)
    inner = (slice(pad, -pad), slice(pad, -pad))

    terrain = plan.terrain
    # The same expression as rasterize's elevation: the same floats at the same pixels.
    ground = terrain.coarse(x, y) + terrain.detail(x, y, 2 * footprint_m)
    level = np.full(x.shape, -np.inf, np.float32)
    chunks = plan.chunks_in(float(x.min()), float(y.min()), float(x.max()), float(y.max()))
    for chunk in chunks:
        inside = chunk.interior.contains(x, y) if plan.spec.chunked else np.ones(x.shape, bool)
        level = np.where(inside, chunk.nearest(chunk.water_level, x, y), level)
    # Water where its level is above the ground: rasterize's ``water > 0.5``.
    water = level > ground
    if plan.spec.scenario is not None:
        water = _scenario_water(plan.spec.scenario, x, y, water)
    surface = np.where(water & np.isfinite(level), np.maximum(level, ground), ground)
    sea = water & (level == 0.0)

    # Rivers: cut below the lowest surface within reach (a minimum filter of the padded
    # surface, so a pixel's floor does not depend on which region it is computed in).
    x0, y0 = float(x[pad, pad]), float(y[pad, pad])
    river = np.zeros((height, width), np.float32)
    for chunk in chunks:
        cover, _ = draw_lines(chunk.rivers, ("river", "stream"), x0, y0, pixel, river.shape, 1.0)
        river = np.maximum(river, cover)
    floor = ndimage.minimum_filter(surface, size=2 * pad + 1, mode="nearest")[inner]
    floor = floor - RIVER_CUT_M
    heights = surface[inner]
    # Full cut from half coverage (where imagery draws the river) and a ramp at its edges;
    # lakes and the sea keep their flat surface where a river flows in.
    weight = np.clip(river / 0.5, 0.0, 1.0)
    cut = np.minimum(heights, heights + (floor - heights) * weight)
    heights = np.where((river > 0) & ~water[inner], cut, heights)
    return TerrainRegion(
        heights=heights.astype(np.float32),
        ground=ground[inner].astype(np.float32),
        sea=sea[inner],
    )


def _scenario_water(
    scenario: Scenario, x: np.ndarray, y: np.ndarray, water: np.ndarray
) -> np.ndarray:
    """A scenario's polygons decide water as rasterize's ``_apply_scenario_areas`` does
    (a later polygon wins): water polygons are lakes, land polygons dry land."""
    water = water.copy()
    x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    for area in scenario.areas:
        ax0, ay0, ax1, ay1 = area.bounds
        if ax1 < x0 or ax0 > x1 or ay1 < y0 or ay0 > y1:
            continue
        inside = area.contains(x, y)
        water[inside] = area.landcover == "water"
    return water


def terrain_heights(world: World, z: int, px: int, py: int, width: int, height: int) -> np.ndarray:
    """(height, width) float32 metres of the region at zoom z (global pixel coordinates):
    the surface terrain tiles encode."""
    return terrain_region(world, z, px, py, width, height).heights


# -- encodings ---------------------------------------------------------------------------


def encode_heights(heights: np.ndarray, encoding: Encoding = "mapbox") -> np.ndarray:
    """(H, W, 3) uint8 RGB of heights in metres.

    mapbox (Terrain-RGB): height = -10000 + (R * 65536 + G * 256 + B) * 0.1
    terrarium: height = R * 256 + G + B / 256 - 32768
    """
    h = np.asarray(heights, np.float64)
    if encoding == "mapbox":
        value = np.clip(np.round((h + 10000.0) * 10.0), 0, 2**24 - 1).astype(np.int64)
        channels = (value >> 16, (value >> 8) & 255, value & 255)
    elif encoding == "terrarium":
        value = np.clip(np.round((h + 32768.0) * 256.0), 0, 2**24 - 1).astype(np.int64)
        channels = (value >> 16, (value >> 8) & 255, value & 255)
    else:
        raise ValueError(f"unknown terrain encoding {encoding!r}; use one of {ENCODINGS}")
    return np.stack(channels, axis=-1).astype(np.uint8)


def decode_heights(rgb: np.ndarray, encoding: Encoding = "mapbox") -> np.ndarray:
    """Heights in metres (float64) of an encoded (H, W, 3) image (the inverse above)."""
    r, g, b = (np.asarray(rgb[..., i], np.float64) for i in range(3))
    if encoding == "mapbox":
        return -10000.0 + (r * 65536.0 + g * 256.0 + b) * 0.1
    if encoding == "terrarium":
        return r * 256.0 + g + b / 256.0 - 32768.0
    raise ValueError(f"unknown terrain encoding {encoding!r}; use one of {ENCODINGS}")


def terrain_tile(world: World, z: int, x: int, y: int, encoding: Encoding = "mapbox") -> bytes:
    """The PNG of terrain tile z/x/y: the same bytes for the same arguments, every time."""
    size = world.tile_size
    rgb = encode_heights(terrain_heights(world, z, x * size, y * size, size, size), encoding)
    buffer = io.BytesIO()
    # Fixed settings and no timestamps: the bytes (and the ETag) are reproducible.
    Image.fromarray(rgb, "RGB").save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()
