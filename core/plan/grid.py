"""The plan grid: coarse cells fixed on the Web-Mercator plane, shared by every world.

A plan cell is one pixel of zoom ``PLAN_LEVEL`` (2^15 cells across the world, about 1.2 km
at the equator). Cells are addressed by global integer indices, so a cell means the same
place in every world, chunk and process. Positions inside the plan are floats in cell
units (u * CELLS, v * CELLS), the unit every polyline and settlement is stored in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PLAN_LEVEL = 15
CELLS = 2**PLAN_LEVEL
EARTH_CIRCUMFERENCE_M = 40_075_016.686


def lonlat_to_cell(lon: float, lat: float) -> tuple[float, float]:
    """Position in cell units of a WGS84 point."""
    u = (lon + 180.0) / 360.0
    s = math.sin(math.radians(lat))
    v = 0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)
    return u * CELLS, v * CELLS


def cell_to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 (lon, lat) of positions in cell units."""
    lon = np.asarray(x, np.float64) / CELLS * 360.0 - 180.0
    n = math.pi - 2.0 * math.pi * np.asarray(y, np.float64) / CELLS
    lat = np.degrees(np.arctan(np.sinh(n)))
    return lon, lat


def metres_per_cell(y: float | np.ndarray) -> float | np.ndarray:
    """Ground size of a cell at row position y (Mercator scale shrinks with latitude)."""
    _, lat = cell_to_lonlat(np.zeros_like(np.asarray(y, np.float64)), y)
    return EARTH_CIRCUMFERENCE_M / CELLS * np.cos(np.radians(lat))


@dataclass(frozen=True)
class CellWindow:
    """A rectangle of cells: columns i0 .. i0 + width - 1, rows j0 .. j0 + height - 1."""

    i0: int
    j0: int
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in cell units of every cell centre, each of shape (height, width)."""
        xs = self.i0 + np.arange(self.width) + 0.5
        ys = self.j0 + np.arange(self.height) + 0.5
        return np.meshgrid(xs, ys)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (
            (x >= self.i0)
            & (x < self.i0 + self.width)
            & (y >= self.j0)
            & (y < self.j0 + self.height)
        )

    def grown(self, margin: int) -> CellWindow:
        return CellWindow(
            self.i0 - margin, self.j0 - margin, self.width + 2 * margin, self.height + 2 * margin
        )
