"""`synthtiles eval mosaics`: mosaics of a world at several zooms in random places, as a
person would look at them (DESIGN §6: never picked by class), generated through the real
cascade, beside the same area drawn by the model's texture prior alone (no diffusion)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from core.classes import CLASS_INDEX
from core.layout import layout_of
from core.settings import WorkerSettings
from core.world import World
from model_store.registry import ModelRegistry
from worker.evaluation.world import Region, generate_region, read_mosaic, seam_ratio
from worker.synthesis.prior_drawing import PriorDrawing


def random_places(world: World, count: int, seed: int = 0) -> list[tuple[float, float]]:
    """(lon, lat) of ``count`` random places in the world; for a plan world only places on
    land (an island world is mostly sea), chosen before looking at anything else."""

    rng = np.random.default_rng(seed)
    west, south, east, north = world.extent
    layout = layout_of(world)
    places: list[tuple[float, float]] = []
    while len(places) < count:
        lon = float(rng.uniform(west + 0.1 * (east - west), east - 0.1 * (east - west)))
        lat = float(rng.uniform(south + 0.1 * (north - south), north - 0.1 * (north - south)))
        x, y = _tile_xy(lon, lat, world.min_zoom)
        size = world.tile_size
        here = layout.region(world.min_zoom, int(x * size), int(y * size), 1, 1)
        if here.raster is not None and here.classes[0, 0] == CLASS_INDEX["water"]:
            continue  # (procedural worlds keep their first places, sea or not)
        places.append((lon, lat))
    return places


def _tile_xy(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    import mercantile

    tile = mercantile.tile(lon, lat, zoom)
    bounds = mercantile.xy_bounds(tile)
    mx, my = mercantile.xy(lon, lat)
    return (
        tile.x + (mx - bounds.left) / (bounds.right - bounds.left),
        tile.y + (bounds.top - my) / (bounds.top - bounds.bottom),
    )


def region_at(world: World, lon: float, lat: float, zoom: int, size: int) -> Region:
    x, y = _tile_xy(lon, lat, zoom)
    return Region(zoom, int(x) - size // 2, int(y) - size // 2, size, size)


def prior_alone(world: World, region: Region, settings: WorkerSettings) -> np.ndarray | None:
    """The region drawn by the world model's texture prior alone (the diffusion model's
    starting point), or None for a model without a prior."""

    entry = ModelRegistry.from_settings(settings.models_dir).verify(world.model)
    prior = PriorDrawing.from_conditioning(entry.path, entry.id, entry.conditioning)
    if prior is None:
        return None

    size = world.tile_size
    left, top = region.x0 * size, region.y0 * size
    width, height = region.width * size, region.height * size
    here = layout_of(world).region(region.zoom, left, top, width, height)
    image = prior.draw(world.seed, region.zoom, left, top, here.classes, here.raster)
    return np.clip(image, 0, 255).round().astype(np.uint8)


def write_mosaics(
    world: World,
    zooms: list[int],
    places: int,
    size: int,
    out: Path,
    settings: WorkerSettings,
    seed: int = 0,
    log=print,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (lon, lat) in enumerate(random_places(world, places, seed)):
        for zoom in zooms:
            region = region_at(world, lon, lat, zoom, size)
            with tempfile.TemporaryDirectory(prefix="synthtiles-mosaic-") as tmp:
                started = time.perf_counter()
                made = generate_region(world, Path(tmp), region, "row-major", 1, settings)
                mosaic = read_mosaic(world, Path(tmp), region)
            path = out / f"{world.id}-place{index + 1}-z{zoom}.png"
            Image.fromarray(mosaic).save(path)
            written.append(path)
            log(
                f"place {index + 1} ({lon:.3f}, {lat:.3f}) z{zoom}: {made} units in "
                f"{time.perf_counter() - started:.0f} s, seam ratio "
                f"{seam_ratio(mosaic, world.tile_size):.3f} -> {path}"
            )
            alone = prior_alone(world, region, settings)
            if alone is not None:
                prior_path = out / f"{world.id}-place{index + 1}-z{zoom}-prior-alone.png"
                Image.fromarray(alone).save(prior_path)
                written.append(prior_path)
    return written
