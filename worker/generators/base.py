"""The generator interface: batched unit synthesis from a UnitRequest's conditioning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from worker.engine import UnitRequest


class Generator(Protocol):
    #: NAME@VERSION, written into every tile's metadata and the cache namespace.
    model_id: str
    device: str
    #: Whether the engine softens the generated pixels next to known neighbour pixels.
    feather_borders: bool

    def generate(self, requests: Sequence[UnitRequest]) -> list[np.ndarray]:
        """One (canvas_px, canvas_px, 3) uint8 canvas per request, in order.

        Must be deterministic: the same requests give the same pixels. The engine keeps
        the known pixels exact and cuts the unit from the canvas centre afterwards.
        """
        ...
