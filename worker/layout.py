"""The procedural layout: a world's land-cover class map as a function of position (DESIGN §4).

Every field is hashed value noise evaluated at a point's Web-Mercator position (u, v in
[0, 1)), never at pixel indices, so the map is continuous and the same at every zoom:
zooming in refines it and never moves a coastline. Classes come from thresholds on an
elevation field (water below sea level), a moisture field (bare / grassland / cropland /
forest) and a town field (sparse clusters; a few grow into cities).
"""

from __future__ import annotations

import numpy as np

from core.classes import CLASS_COLOURS, CLASS_INDEX, CLASSES
from core.noise import fractal_noise
from core.plan.raster import PlanRaster
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


def layout_debug_image(world: World, z: int, x: int, y: int) -> np.ndarray:
    """A colour-coded tile of the class map, for /worlds/{world}/layout/{z}/{x}/{y}.png."""
    size = world.tile_size
    classes = class_map(world, z, x * size, y * size, size, size)
    palette = np.array([CLASS_COLOURS[name] for name in CLASSES], np.uint8)
    return palette[classes]


def layout_preview(world: World, z: int, px: int, py: int, width: int, height: int) -> np.ndarray:
    """The world's layout drawn without a model: the min-zoom parent of generators that
    draw no prior, and the viewers' placeholder. Plan worlds show their plan."""
    from core.plans import world_plan

    plan = world_plan(world)
    if plan is None:
        return layout_render(world, z, px, py, width, height)
    from core.plan.raster import rasterize
    from worker.plan_render import preview

    return preview(rasterize(plan, z, px, py, width, height, world.tile_size))


def layout_tile(world: World, z: int, x: int, y: int) -> np.ndarray:
    """The debug layer at /worlds/{world}/layout/{z}/{x}/{y}.png: class colours, and for
    plan worlds also rivers, roads and hillshade."""
    from core.plans import world_plan

    plan = world_plan(world)
    if plan is None:
        return layout_debug_image(world, z, x, y)
    from core.plan.raster import rasterize

    size = world.tile_size
    raster = rasterize(plan, z, x * size, y * size, size, size, size)
    return plan_map(raster.classes, raster)


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
