"""Renderer 2: the texture prior drawn over the world plan, as a pure function of position,
with detail at every zoom and refusing worlds without a plan."""

from __future__ import annotations

import numpy as np
import pytest

from core.classes import CLASS_INDEX
from core.plan.raster import rasterize
from core.plans import world_plan
from model_store.registry import ModelRegistry
from tests.test_world_plan import WORLD, _centre_pixel
from worker.synthesis.prior_drawing import PriorDrawing


@pytest.fixture(scope="module")
def prior() -> PriorDrawing:
    entry = ModelRegistry().verify("carana-sr@0.3.0")
    drawing = PriorDrawing.from_conditioning(entry.path, entry.id, entry.conditioning)
    assert drawing is not None and drawing.draws_plan
    return drawing


def test_a_tile_is_the_same_area_of_a_larger_render(prior: PriorDrawing) -> None:
    plan = world_plan(WORLD)
    for zoom in (10, 13, 16):
        left, top = _centre_pixel(zoom)
        whole = rasterize(plan, zoom, left - 64, top - 32, 384, 320)
        part = rasterize(plan, zoom, left, top, 256, 256)
        big = prior.draw(WORLD.seed, zoom, left - 64, top - 32, whole.classes, whole)
        small = prior.draw(WORLD.seed, zoom, left, top, part.classes, part)
        np.testing.assert_array_equal(small, big[32:288, 64:320])


def _land_pixel(zoom: int) -> tuple[int, int]:
    """Top-left global pixel of a 256-px area on land (fields and savanna) of WORLD."""
    n = 256 * 2**zoom
    lon, lat = 11.0, -1.0
    s = np.sin(np.radians(lat))
    x = (lon + 180.0) / 360.0 * n
    y = (0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)) * n
    return int(x) - 128, int(y) - 128


def _detail(image: np.ndarray) -> float:
    lum = image @ np.array([0.299, 0.587, 0.114])
    return float((np.abs(np.diff(lum, axis=0)).mean() + np.abs(np.diff(lum, axis=1)).mean()) / 2)


@pytest.mark.parametrize("zoom", [10, 12, 14, 16])
def test_land_has_detail_at_every_zoom(prior: PriorDrawing, zoom: int) -> None:
    """No zoom fades to flat class colour: land keeps a few grey levels of detail per pixel
    step (real imagery has 3-10 at these resolutions)."""
    plan = world_plan(WORLD)
    left, top = _land_pixel(zoom)
    raster = rasterize(plan, zoom, left, top, 256, 256)
    assert (raster.classes != CLASS_INDEX["water"]).mean() > 0.5
    image = prior.draw(WORLD.seed, zoom, left, top, raster.classes, raster)
    assert _detail(image) > 2.0


def test_colours_stay_in_the_range_of_real_imagery(prior: PriorDrawing) -> None:
    plan = world_plan(WORLD)
    left, top = _land_pixel(12)
    raster = rasterize(plan, 12, left, top, 256, 256)
    image = prior.draw(WORLD.seed, 12, left, top, raster.classes, raster)
    mean = image.reshape(-1, 3).mean(0)
    # The histogram-validity ranges measured on the training chips (DESIGN §6).
    assert 16 <= mean[0] <= 212 and 26 <= mean[1] <= 199 and 0 <= mean[2] <= 176


def test_a_plan_model_refuses_a_world_without_a_plan(prior: PriorDrawing) -> None:
    classes = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="draws from a world plan"):
        prior.draw(WORLD.seed, 12, 0, 0, classes, None)
