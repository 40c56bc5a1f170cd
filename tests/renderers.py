"""The plan renderer a registered model draws with, for the renderer tests."""

from __future__ import annotations

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
