"""The plan renderer a registered model draws with, for the renderer tests."""

from __future__ import annotations

import numpy as np

from core.layout import layout_of
from core.plan.raster import PlanRaster
from core.world import World
from model_store.registry import ModelRegistry
from worker.synthesis.bank_render import BankRenderer
from worker.synthesis.prior_drawing import PriorDrawing


def bank_renderer(model: str, world_seed: int) -> BankRenderer:
    entry = ModelRegistry().verify(model)
    drawing = PriorDrawing.from_conditioning(entry.path, entry.id, entry.conditioning)
    assert drawing is not None and drawing.bank is not None
    made = drawing.plan_renderer(world_seed)
    assert isinstance(made, BankRenderer)
    return made


def draw_with_renderer(
    world: World, version: int, zoom: int, left: int, top: int, size: int
) -> tuple[np.ndarray, PlanRaster]:
    """A square of the world drawn by its model's prior under another renderer version
    (the same bank and settings), with the plan raster it was drawn from."""
    entry = ModelRegistry().verify(world.model)
    conditioning = dict(entry.conditioning)
    conditioning["texture_prior"] = {**conditioning["texture_prior"], "renderer": version}
    prior = PriorDrawing.from_conditioning(entry.path, entry.id, conditioning)
    assert prior is not None
    here = layout_of(world).region(zoom, left, top, size, size)
    assert here.raster is not None
    return prior.draw(world.seed, zoom, left, top, here.classes, here.raster), here.raster
