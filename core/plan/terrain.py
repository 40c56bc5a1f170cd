"""Relief: a height field in metres as a pure function of position (DESIGN §4).

Continents at ~400 km, mountain belts where a slow mask is high (ridged noise: sharp crests,
broad valleys), hills everywhere, and fine detail that only pixels ask for. The plan grid
samples the same function the pixels do, so the drainage computed on the grid and the
relief shaded in the tiles are one surface.
"""

from __future__ import annotations

import numpy as np

from core.noise import EARTH_KM, fractal_noise, value_noise
from core.plan.grid import CELLS

SEA_LEVEL_M = 0.0
# More than the relief can rise (continents + mountains + hills stay under ~3,000 m).
REGION_SINK_M = 3400.0


def _uv(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(x, np.float64) / CELLS, np.asarray(y, np.float64) / CELLS


def _ridged(u: np.ndarray, v: np.ndarray, feature_km: float, octaves: int, seed: int) -> np.ndarray:
    """Ridged multifractal-ish noise in [0, 1]: crests where the noise crosses its middle."""
    total, amplitude, norm = np.zeros_like(u), 1.0, 0.0
    cells = EARTH_KM / feature_km
    for octave in range(octaves):
        n = value_noise(u, v, cells * 2**octave, seed + 104_729 * octave)
        total += amplitude * (1.0 - np.abs(2.0 * n - 1.0)) ** 2
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class Terrain:
    """Elevation of a world, in metres above sea level, at any position in cell units."""

    def __init__(
        self,
        seed: int,
        island: tuple[float, float, float, float] | None,
        region_cells: int = 0,
    ) -> None:
        self.seed = seed
        # (x0, y0, x1, y1) in cell units: an island world sinks towards these edges.
        self.island = island
        # An open world (plan version 2): the land sinks into a deep ocean along the
        # borders of square regions this many cells wide, so no river or road crosses one.
        self.region_cells = region_cells

    def mountains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = _uv(x, y)
        return _smoothstep(0.5, 0.78, fractal_noise(u, v, 220.0, 3, self.seed + 17))

    def coarse(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The relief down to ~1 km: what the plan grid and drainage see."""
        u, v = _uv(x, y)
        seed = self.seed
        continent = fractal_noise(u, v, 420.0, 4, seed + 11)
        mountains = self.mountains(x, y)
        ridges = _ridged(u, v, 70.0, 4, seed + 13)
        hills = fractal_noise(u, v, 14.0, 3, seed + 19)
        height = (continent - 0.43) * 1400.0
        height += mountains * ridges * 1900.0
        height += (hills - 0.5) * (90.0 + 500.0 * mountains)
        # Lowlands flatten out: coastal and river plains rather than a uniform hill carpet.
        plain = _smoothstep(0.0, 250.0, height)
        height = np.where(height > 0, height * (0.35 + 0.65 * plain), height)
        if self.island is not None:
            height = height + 120.0 - 1500.0 * (1.0 - self._inland(x, y))
        if self.region_cells:
            height = height - REGION_SINK_M * (1.0 - self._off_region_edge(x, y))
        return height

    def _off_region_edge(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """0 within ~4 % of a region's size of its border (always sea there: the sink is
        deeper than any relief rises), 1 from ~10 % inwards, wobbly."""
        size = float(self.region_cells)
        fx = np.mod(np.asarray(x, np.float64), size) / size
        fy = np.mod(np.asarray(y, np.float64), size) / size
        edge = np.minimum.reduce([fx, 1.0 - fx, fy, 1.0 - fy])
        u, v = _uv(x, y)
        wobble = (fractal_noise(u, v, 160.0, 4, self.seed + 27) - 0.5) * 0.08
        return _smoothstep(0.0, 0.06, edge - 0.04 + wobble)

    def _inland(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """0 at the island's extent edge, 1 from 18 % of its size inwards, wobbly."""
        x0, y0, x1, y1 = self.island  # type: ignore[misc]
        u, v = _uv(x, y)
        size = min(x1 - x0, y1 - y0)
        edge = np.minimum.reduce([x - x0, x1 - x, y - y0, y1 - y]) / size
        wobble = (fractal_noise(u, v, 110.0, 4, self.seed + 23) - 0.5) * 0.5
        return _smoothstep(0.0, 0.22, edge + wobble)

    def detail(self, x: np.ndarray, y: np.ndarray, finest_m: float) -> np.ndarray:
        """Relief finer than the grid (~600 m down to ``finest_m``), rougher in mountains."""
        u, v = _uv(x, y)
        octaves = int(np.clip(np.floor(np.log2(600.0 / max(finest_m, 1.0))) + 1, 0, 9))
        if octaves == 0:
            return np.zeros_like(u)
        total = np.zeros_like(u)
        amplitude = 1.0
        cells = EARTH_KM / 0.6
        mountains = self.mountains(x, y)
        for octave in range(octaves):
            n = value_noise(u, v, cells * 2**octave, self.seed + 29 + octave)
            # Ridged where it is mountainous (crests and gullies), soft rolling elsewhere.
            ridged = 0.5 - np.abs(2.0 * n - 1.0)
            total += amplitude * ((1 - mountains) * (n - 0.5) + mountains * ridged)
            amplitude *= 0.5
        rough = 3.0 + 30.0 * mountains
        return total * rough
