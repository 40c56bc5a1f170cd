"""Lines across a chunk border: where a chunk's rivers and roads cross a border line, and
whether each crossing continues in the chunk on the other side (issue #22's measure, used
by tests/test_infinite_world.py and benchmarks/bench_crossings.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.plan.plan import CHUNK_CELLS, PlanChunk

COURSE_CELLS = 1.0  # same course: the other side's line crosses within this of it
WIDTH_SHARE = 0.1  # same width: within this share of it


@dataclass(frozen=True)
class Crossing:
    family: str  # "water" (rivers and streams) or "road"
    kind: str  # the line's kind (river, stream, main, minor, ...)
    along: float  # position along the border (cells)
    width_m: float  # the line's width where it crosses


def segment_crossings(
    a: np.ndarray, b: np.ndarray, axis: int, at: float, span: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which segments ``a[k] -> b[k]`` cross the border ``axis`` = ``at`` between ``span``
    along it: (k, where along each segment, where along the border)."""
    side_a, side_b = a[:, axis] - at, b[:, axis] - at
    k = np.flatnonzero((side_a < 0) != (side_b < 0))
    t = side_a[k] / (side_a[k] - side_b[k])
    along = a[k, 1 - axis] + t * (b[k, 1 - axis] - a[k, 1 - axis])
    keep = (span[0] <= along) & (along < span[1])
    return k[keep], t[keep], along[keep]


def crossings(chunk: PlanChunk, axis: int, at: float, span: tuple[float, float]) -> list[Crossing]:
    """Where the chunk's lines cross the border ``axis`` = ``at`` (axis 0: the vertical
    line x = at, 1: the horizontal line y = at) between ``span`` along it."""
    found = []
    for lines, family in ((chunk.rivers, "water"), (chunk.roads, "road")):
        for i in range(len(lines)):
            points, widths = lines.line(i)
            for k, t, along in zip(
                *segment_crossings(points[:-1], points[1:], axis, at, span), strict=True
            ):
                width = widths[k] + t * (widths[k + 1] - widths[k])
                found.append(Crossing(family, lines.kinds[i], float(along), float(width)))
    return found


def continues(crossing: Crossing, there: list[Crossing]) -> bool:
    """The other side has the same line: same family, within a cell, width within 10 %."""
    return any(
        o.family == crossing.family
        and abs(o.along - crossing.along) <= COURSE_CELLS
        and abs(o.width_m - crossing.width_m) <= WIDTH_SHARE * crossing.width_m
        for o in there
    )


def border(a: PlanChunk, b: PlanChunk, axis: int) -> tuple[float, tuple[float, float]]:
    """The border between chunk ``a`` and chunk ``b`` after it (axis 0: b east of a, 1: b
    south of a): its position and its span along it."""
    return border_between((a.interior.i0, a.interior.j0), (b.interior.i0, b.interior.j0), axis)


def border_between(
    a: tuple[int, int], b: tuple[int, int], axis: int
) -> tuple[float, tuple[float, float]]:
    """``border`` for chunks given by their interiors' first cells (i0, j0), built or not."""
    lo = float(a[1 - axis])
    return float(b[axis]), (lo, lo + CHUNK_CELLS)
