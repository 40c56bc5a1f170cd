"""Generator factory: the generator for a world's model NAME@VERSION."""

from __future__ import annotations

from worker.generators.base import Generator
from worker.settings import WorkerSettings

BUILTIN_MODELS = ("procedural@0.1.0",)


def load_generator(model: str, settings: WorkerSettings) -> Generator:
    if model == "procedural@0.1.0":
        from worker.generators.procedural import ProceduralGenerator

        return ProceduralGenerator(device=settings.device, delay_s=settings.procedural_delay_s)
    raise LookupError(
        f"model {model!r} is not available; built-in models: {', '.join(BUILTIN_MODELS)}"
    )


__all__ = ["BUILTIN_MODELS", "Generator", "load_generator"]
