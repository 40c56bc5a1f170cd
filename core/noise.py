"""Hashed noise as a pure function of position and seed: the building block of every world.

Nothing here keeps state or draws from a global generator: the same (position, seed) gives
the same value in any process, in any order, on any machine.
"""

from __future__ import annotations

import numpy as np

EARTH_KM = 40_075.0
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def hash_uniform(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of (ix, iy, seed) -> uniform floats in [0, 1)."""
    with np.errstate(over="ignore"):
        h = (
            np.asarray(ix).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            ^ np.asarray(iy).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
        )
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9) & _M64
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB) & _M64
        h = h ^ (h >> np.uint64(31))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def value_noise(u: np.ndarray, v: np.ndarray, cells: float, seed: int) -> np.ndarray:
    """Smooth noise in [0, 1] with ``cells`` lattice cells across the whole world."""
    x, y = u * cells, v * cells
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    sx, sy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    ix, iy = x0.astype(np.int64), y0.astype(np.int64)
    a, b, c, d = _corner_hashes(ix, iy, seed)
    return (a * (1 - sx) + b * sx) * (1 - sy) + (c * (1 - sx) + d * sx) * sy


def _corner_hashes(ix: np.ndarray, iy: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """The hashes of each cell's four corners (ix, iy), (ix+1, iy), (ix, iy+1), (ix+1, iy+1).

    Many pixels share a cell: where the cells they span form a block smaller than the
    pixels, the block's corners are hashed once and looked up (hash_uniform is elementwise,
    so the same bits as hashing per pixel)."""
    ix, iy = np.asarray(ix), np.asarray(iy)
    if ix.size == 0 or ix.shape != iy.shape:
        return _hashed_corners(ix, iy, seed)
    x_lo, y_lo = int(ix.min()), int(iy.min())
    width, height = int(ix.max()) - x_lo + 2, int(iy.max()) - y_lo + 2
    if width * height >= ix.size:
        return _hashed_corners(ix, iy, seed)
    rows, cols = np.divmod(np.arange(width * height, dtype=np.int64), width)
    block = hash_uniform(cols + x_lo, rows + y_lo, seed)
    at = (iy - y_lo) * width + (ix - x_lo)
    return block[at], block[at + 1], block[at + width], block[at + width + 1]


def _hashed_corners(ix: np.ndarray, iy: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    return (
        hash_uniform(ix, iy, seed),
        hash_uniform(ix + 1, iy, seed),
        hash_uniform(ix, iy + 1, seed),
        hash_uniform(ix + 1, iy + 1, seed),
    )


def fractal_noise(
    u: np.ndarray, v: np.ndarray, feature_km: float, octaves: int, seed: int
) -> np.ndarray:
    """Sum of ``octaves`` value-noise octaves, the coarsest with ``feature_km`` cells."""
    total, amplitude, norm = np.zeros_like(u), 1.0, 0.0
    cells = EARTH_KM / feature_km
    for octave in range(octaves):
        total += amplitude * value_noise(u, v, cells * 2**octave, seed + 7919 * octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm
