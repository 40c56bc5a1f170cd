"""Renderer 6: renderer 5 without the lattice of its regional crop choice.

Every surface is tiled from crops of the training photographs, and neighbouring lattice
vertices pick crops of like tone from a regional field, so the ground changes from one
kind to another over kilometres. Renderers 3-5 drew that field as one octave of value
noise on a square 6 km lattice, stretched past its ends so that the darkest and the
brightest crops each held whole regions: from z10 to z12 forest and savanna showed as
square blotches of light and dark photographs, lined up along the lattice's axes, which
no landscape has.

Here the field is organic: two octaves on lattices turned against each other and against
the map's axes (22° and 67°), their sum warped by a third noise over a region's width, so
no edge lines up with another; and it is not stretched, so the extreme crops appear
where the field is extreme, in patches, instead of in flat-topped plateaus. Everything
else is renderer 5's.
"""

from __future__ import annotations

import numpy as np

from core.noise import value_noise
from worker.synthesis.bank_render import REGION_CELLS
from worker.synthesis.parkland_render import ParklandRenderer

# Lattice turns as exact constants (no trigonometry on arrays: a pixel's value must not
# depend on which SIMD lane computed it).
_TURN_A = (float(np.cos(np.radians(22.0))), float(np.sin(np.radians(22.0))))
_TURN_B = (float(np.cos(np.radians(67.0))), float(np.sin(np.radians(67.0))))
WARP_REGIONS = 0.8  # how far the field is pushed about, in regions
SPREAD = 1.6  # the field's spread around the middle crop (renderers 3-5: 1.5, clipped)


def _turned(u: np.ndarray, v: np.ndarray, turn: tuple[float, float]) -> tuple:
    cos, sin = turn
    return u * cos - v * sin, u * sin + v * cos


class OrganicRegionRenderer(ParklandRenderer):
    """Renderer 6 (see the module's text)."""

    version = 6

    def _crop_rank(self, vx: np.ndarray, vy: np.ndarray, seed: int) -> np.ndarray:
        u, v = vx / self._world_px, vy / self._world_px
        reach = WARP_REGIONS / REGION_CELLS
        wu = u + reach * (value_noise(u, v, REGION_CELLS * 0.7, seed + 31) - 0.5)
        wv = v + reach * (value_noise(u, v, REGION_CELLS * 0.7, seed + 32) - 0.5)
        coarse = value_noise(*_turned(wu, wv, _TURN_A), REGION_CELLS, seed + 4)
        fine = value_noise(*_turned(wu, wv, _TURN_B), REGION_CELLS * 2.3, seed + 5)
        region = (2.0 * coarse + fine) / 3.0
        return 0.5 + SPREAD * (region - 0.5)
