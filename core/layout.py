"""A world's layout: what lies where (land cover, and for plan worlds the whole plan), and
the pictures drawn from it without a model (the placeholder, the min-zoom parent, the
debug layer). One interface for both kinds of world, so callers never branch on which.

The procedural layout (the first worlds, DESIGN §4) is hashed value noise evaluated at a
point's Web-Mercator position (u, v in [0, 1)), never at pixel indices, so the map is
continuous and the same at every zoom: zooming in refines it and never moves a coastline.
Classes come from thresholds on an elevation field (water below sea level), a moisture
field (bare / grassland / cropland / forest) and a town field (sparse clusters; a few grow
into cities). Plan worlds take their classes, rivers and roads from the world plan.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from core.classes import CLASS_COLOURS, CLASS_INDEX, CLASSES
from core.noise import fractal_noise
from core.plan.plan import WorldPlan
from core.plan.raster import PlanRaster, rasterize
from core.plans import world_plan
from core.world import World

# Mean colours of each class in the training imagery (FlightGear textures): the stand-in
# parent at min_zoom is drawn in these, then refined by the model.
CLASS_BASE_COLOURS = np.array(
    [
        (34, 62, 76),  # water
        (38, 58, 28),  # forest
        (104, 106, 68),  # cropland
        (92, 94, 64),  # grassland
        (160, 140, 110),  # bare
        (110, 108, 100),  # urban
    ],
    np.float32,
)
# The plan preview's lines (sRGB), shared with the plan renderer (worker/synthesis/plan_render.py).
RIVER = np.array([56, 70, 62], np.float32)  # a river carrying silt
ASPHALT = np.array([96, 96, 94], np.float32)
LATERITE = np.array([168, 128, 98], np.float32)
BUND = np.array([150, 136, 108], np.float32)  # trodden ground: tracks and field bunds


@dataclass(frozen=True)
class LayoutRegion:
    """What lies in a region: class indices (H, W), and for plan worlds the plan raster."""

    classes: np.ndarray
    raster: PlanRaster | None


class Layout(ABC):
    """A world's layout; regions are given in global pixel coordinates at a zoom."""

    def __init__(self, world: World) -> None:
        self.world = world

    @abstractmethod
    def region(self, z: int, px: int, py: int, width: int, height: int) -> LayoutRegion:
        """What lies in the region."""

    @abstractmethod
    def preview(self, z: int, px: int, py: int, width: int, height: int) -> np.ndarray:
        """(H, W, 3) uint8: the region drawn without a model (the min-zoom parent of
        generators that draw no prior, and the viewers' placeholder)."""

    @abstractmethod
    def debug_tile(self, z: int, x: int, y: int) -> np.ndarray:
        """(S, S, 3) uint8: the debug layer's tile at /worlds/{world}/layout/{z}/{x}/{y}.png."""


class ProceduralLayout(Layout):
    """Land cover from position noise; no plan, so no rivers or roads."""

    def region(self, z: int, px: int, py: int, width: int, height: int) -> LayoutRegion:
        return LayoutRegion(class_map(self.world, z, px, py, width, height), None)

    def preview(self, z: int, px: int, py: int, width: int, height: int) -> np.ndarray:
        return layout_render(self.world, z, px, py, width, height)

    def debug_tile(self, z: int, x: int, y: int) -> np.ndarray:
        size = self.world.tile_size
        return plan_map(class_map(self.world, z, x * size, y * size, size, size))


class PlanLayout(Layout):
    """The world plan: relief, water, rivers, roads, towns and land cover."""

    def __init__(self, world: World, plan: WorldPlan) -> None:
        super().__init__(world)
        self.plan = plan

    def raster(self, z: int, px: int, py: int, width: int, height: int) -> PlanRaster:
        return rasterize(self.plan, z, px, py, width, height, self.world.tile_size)

    def region(self, z: int, px: int, py: int, width: int, height: int) -> LayoutRegion:
        raster = self.raster(z, px, py, width, height)
        return LayoutRegion(raster.classes, raster)

    def preview(self, z: int, px: int, py: int, width: int, height: int) -> np.ndarray:
        return plan_preview(self.raster(z, px, py, width, height))

    def debug_tile(self, z: int, x: int, y: int) -> np.ndarray:
        size = self.world.tile_size
        raster = self.raster(z, x * size, y * size, size, size)
        return plan_map(raster.classes, raster)


def layout_of(world: World) -> Layout:
    """The world's layout: its plan where it has one (cached per world by core.plans)."""
    plan = world_plan(world)
    return ProceduralLayout(world) if plan is None else PlanLayout(world, plan)


# -- the procedural layout ---------------------------------------------------------------


def mercator_grid(
    world: World, z: int, px: int, py: int, width: int, height: int, step: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) at pixel centres of a region given in global pixel coordinates at zoom z."""
    world_px = float(world.tile_size * 2**z)
    xs = (px + (np.arange(0, width, step) + 0.5 * step)) / world_px
    ys = (py + (np.arange(0, height, step) + 0.5 * step)) / world_px
    return np.meshgrid(xs, ys)


def class_map_at(world: World, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    seed = world.seed
    elevation = fractal_noise(u, v, 60.0, 7, seed + 1)
    moisture = fractal_noise(u, v, 25.0, 6, seed + 2)
    towns = fractal_noise(u, v, 3.0, 4, seed + 3)
    cities = fractal_noise(u, v, 40.0, 3, seed + 4)
    classes = np.full(u.shape, CLASS_INDEX["grassland"], np.uint8)
    classes[moisture < 0.42] = CLASS_INDEX["bare"]
    classes[(moisture >= 0.5) & (moisture < 0.58)] = CLASS_INDEX["cropland"]
    classes[moisture >= 0.58] = CLASS_INDEX["forest"]
    # Towns: small dense clusters; where the slow "city" field is high they merge into cities.
    town_threshold = 0.72 - 0.25 * np.clip(cities - 0.55, 0, 1)
    classes[(towns > town_threshold) & (elevation >= 0.45)] = CLASS_INDEX["urban"]
    classes[elevation < 0.42] = CLASS_INDEX["water"]
    return classes


def class_map(world: World, z: int, px: int, py: int, width: int, height: int) -> np.ndarray:
    """(height, width) class indices of a region in global pixel coordinates at zoom z."""
    u, v = mercator_grid(world, z, px, py, width, height)
    return class_map_at(world, u, v)


def layout_render(world: World, z: int, px: int, py: int, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: class colours plus position-based texture noise, the coarse
    picture that the model refines at min_zoom."""
    u, v = mercator_grid(world, z, px, py, width, height)
    classes = class_map_at(world, u, v)
    colours = CLASS_BASE_COLOURS[classes]
    # Blend class edges a little so shores and field edges are not aliased steps.
    brightness = fractal_noise(u, v, 1.5, 5, world.seed + 5) - 0.5
    tint = fractal_noise(u, v, 8.0, 3, world.seed + 6) - 0.5
    colours = colours * (1 + 0.35 * brightness[..., None]) + 12 * tint[..., None]
    return np.clip(colours, 0, 255).astype(np.uint8)


# -- pictures of the plan ----------------------------------------------------------------


def plan_preview(raster: PlanRaster) -> np.ndarray:
    """The plan in flat class colours with hillshade, water and roads: no prior needed."""
    out = CLASS_BASE_COLOURS[raster.classes] * np.clip(raster.shade, 0.5, 1.5)[..., None]
    river = raster.river[..., None]
    out = out * (1 - river) + RIVER * river
    for kind, colour in (("track", BUND), ("minor", LATERITE), ("main", ASPHALT)):
        cover = raster.roads[kind][..., None]
        out = out * (1 - cover) + colour * cover
    return np.clip(out, 0, 255).round().astype(np.uint8)


def plan_map(classes: np.ndarray, raster: PlanRaster | None = None) -> np.ndarray:
    """The plan drawn as a map: class colours, and where there is a plan raster, hillshade,
    rivers and roads as crisp lines. The debug layer, and a ControlNet's control image."""
    palette = np.array([CLASS_COLOURS[name] for name in CLASSES], np.float32)
    image = palette[classes]
    if raster is None:
        return image.astype(np.uint8)
    image = image * np.clip(raster.shade, 0.6, 1.4)[..., None]
    for cover, colour in (
        (raster.river, (20, 60, 230)),
        (raster.roads["track"], (230, 200, 150)),
        (raster.roads["minor"], (250, 235, 200)),
        (raster.roads["main"], (255, 255, 255)),
    ):
        # Crisp lines: the map shows where the plan's lines are, not how they blend.
        hard = (cover > 0.25)[..., None]
        image = np.where(hard, np.array(colour, np.float32), image)
    return np.clip(image, 0, 255).round().astype(np.uint8)


def layout_preview(world: World, z: int, px: int, py: int, width: int, height: int) -> np.ndarray:
    """The world's layout drawn without a model (Layout.preview)."""
    return layout_of(world).preview(z, px, py, width, height)


def layout_tile(world: World, z: int, x: int, y: int) -> np.ndarray:
    """The debug layer's tile (Layout.debug_tile): class colours, and for plan worlds also
    rivers, roads and hillshade."""
    return layout_of(world).debug_tile(z, x, y)
