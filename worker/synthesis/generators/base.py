"""The generator interface: batched unit synthesis from a UnitRequest's conditioning.

Every generator class is built the same way, ``Cls(model, options)``: ``model`` is what the
model's kind loaded (``None`` for the built-in ``procedural@0.1.0``) and ``options`` the
worker's settings that concern drawing (:class:`GeneratorOptions`). A model kind names its
generator class by a dotted ``module:Class`` string (``ModelKind.generator``), which the
worker resolves (``worker.synthesis.generators.generator_class``), so model_store never
imports worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from worker.synthesis.engine import UnitRequest

if TYPE_CHECKING:
    import torch

    from core.settings import WorkerSettings


@dataclass(frozen=True)
class GeneratorOptions:
    """What a generator takes from the worker rather than from its model."""

    device: str = "cpu"
    #: Units per model call (``SYNTHTILES_DEVICE_BATCH_SIZE``); None: the generator's default.
    batch_size: int | None = None
    #: Procedural generator only: artificial extra seconds per batch (tests).
    delay_s: float = 0.0
    #: Sampling steps in place of the model's own (tests and benchmarks only: a world's steps
    #: come from its model's conditioning.json, they are part of how it looks).
    steps: int | None = None

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> GeneratorOptions:
        return cls(
            device=settings.device,
            batch_size=settings.device_batch_size,
            delay_s=settings.procedural_delay_s,
        )


class Generator(Protocol):
    #: NAME@VERSION, written into every tile's metadata and the cache namespace.
    model_id: str
    device: str
    #: Whether the engine softens the generated pixels next to known neighbour pixels.
    feather_borders: bool
    #: What fills the parent canvas's margin where no neighbour is known
    #: (engine.PARENT_MARGINS).
    parent_margin: str

    def generate(self, requests: Sequence[UnitRequest]) -> list[np.ndarray]:
        """One (canvas_px, canvas_px, 3) uint8 canvas per request, in order.

        Must be deterministic: the same requests give the same pixels. The engine keeps
        the known pixels exact and cuts the unit from the canvas centre afterwards.
        """
        ...


#: A generator class: ``Cls(model, options)``; raises ValueError for a model it cannot draw.
GeneratorClass = Callable[[Any, GeneratorOptions], Generator]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """An (H, W, 3) uint8 image as a (3, H, W) float tensor in [-1, 1]."""
    import torch

    return torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """A (3, H, W) tensor in [-1, 1] as an (H, W, 3) uint8 image (rounded, clipped)."""
    array = (tensor.permute(1, 2, 0).cpu().numpy() + 1) * 127.5
    return np.clip(array, 0, 255).round().astype(np.uint8)
