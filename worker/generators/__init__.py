"""Generator factory: the generator for a world's model NAME@VERSION.

``procedural@0.1.0`` is built in; every other id is looked up in the model registry
(verified against its manifest before loading) and gets the generator of its model kind.
"""

from __future__ import annotations

from core.settings import WorkerSettings
from model_store.registry import ModelError, ModelRegistry, load_model
from worker.generators.base import Generator

PROCEDURAL = "procedural@0.1.0"


def load_generator(model: str, settings: WorkerSettings) -> Generator:
    if model == PROCEDURAL:
        from worker.generators.procedural import ProceduralGenerator

        return ProceduralGenerator(device=settings.device, delay_s=settings.procedural_delay_s)
    registry = ModelRegistry.from_settings(settings.models_dir)
    try:
        kind = registry.get(model).kind.name
        loaded = load_model(registry, model, settings.device)
    except ModelError as exc:
        raise LookupError(f"model {model!r} is not available: {exc}") from exc
    except ImportError as exc:  # a kind whose optional packages are not installed
        raise LookupError(f"model {model!r} needs a package that is missing: {exc}") from exc
    # Steps come from the model (conditioning.json): they are part of how a world looks.
    try:
        if kind == "super-resolution-residual":
            return _generator_for(kind)(
                loaded, settings.device, batch_size=settings.device_batch_size
            )
        return _generator_for(kind)(loaded, settings.device)
    except ValueError as exc:  # e.g. a texture renderer this version cannot draw
        raise LookupError(f"model {model!r} cannot be used: {exc}") from exc


def _generator_for(kind: str):
    """The generator class of a model kind (imported only when a world uses it)."""
    if kind == "super-resolution-residual":
        from worker.generators.diffusion import DiffusionGenerator

        return DiffusionGenerator
    if kind == "diffusers-inpaint":
        from worker.generators.inpaint import InpaintGenerator

        return InpaintGenerator
    raise LookupError(f"no generator for model kind {kind!r}")


__all__ = ["PROCEDURAL", "Generator", "load_generator"]
