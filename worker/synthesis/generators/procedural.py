"""A deterministic, non-learned stand-in generator for serving-path work and tests.

It honours the whole conditioning contract (seeded per unit, refines the parent, blends
into the known neighbour pixels) but its pictures are smooth noise, not imagery. The
diffusion generator replaces it as the default once the default model lands.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter

from worker.synthesis.engine import UnitRequest
from worker.synthesis.generators.base import GeneratorOptions


class ProceduralGenerator:
    model_id = "procedural@0.1.0"
    feather_borders = True
    parent_margin = "edge"

    def __init__(self, model: None = None, options: GeneratorOptions | None = None) -> None:
        options = options or GeneratorOptions()
        self.device = options.device
        self.delay_s = options.delay_s

    def generate(self, requests: Sequence[UnitRequest]) -> list[np.ndarray]:
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._one(request) for request in requests]

    def _one(self, request: UnitRequest) -> np.ndarray:
        rng = np.random.default_rng(request.seed)
        size = request.canvas_px
        base = np.asarray(
            Image.fromarray(request.parent).resize((size, size), Image.BILINEAR), np.float32
        )
        detail = _smooth_noise(rng, size, 32, 1) * 18 + rng.normal(0, 4, (size, size, 1))
        canvas = base + detail
        if request.known_mask.any():
            canvas = _blend_towards_known(canvas, request)
        return np.clip(canvas, 0, 255).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int) -> np.ndarray:
    """Value noise in [-1, 1]: a coarse random grid upsampled bicubically."""
    coarse = rng.uniform(0, 255, (cells + 1, cells + 1, channels)).astype(np.uint8)
    planes = [
        np.asarray(Image.fromarray(coarse[..., c]).resize((size, size), Image.BICUBIC), np.float32)
        for c in range(channels)
    ]
    return np.stack(planes, -1) / 127.5 - 1.0


def _blend_towards_known(canvas: np.ndarray, request: UnitRequest) -> np.ndarray:
    """Pull pixels near known neighbours towards them, fading over the margin's width."""
    radius = max(2, request.margin // 2)
    mask = Image.fromarray(request.known_mask.astype(np.uint8) * 255)
    weight = np.asarray(mask.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255.0
    known = Image.fromarray(request.known)
    smooth_known = np.asarray(known.filter(ImageFilter.GaussianBlur(radius)), np.float32)
    smooth_mask = np.maximum(weight, 1e-3)[..., None]
    target = smooth_known / smooth_mask  # normalised: mean colour of nearby known pixels
    w = np.clip(weight * 2, 0, 1)[..., None]
    return canvas * (1 - w) + np.clip(target, 0, 255) * w
