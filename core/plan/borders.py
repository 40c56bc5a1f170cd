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


def crossings(chunk: PlanChunk, axis: int, at: float, span: tuple[float, float]) -> list[Crossing]:
    """Where the chunk's lines cross the border ``axis`` = ``at`` (axis 0: the vertical
    line x = at, 1: the horizontal line y = at) between ``span`` along it."""
    found = []
    for lines, family in ((chunk.rivers, "water"), (chunk.roads, "road")):
        for i in range(len(lines)):
            points, widths = lines.line(i)
            a, b = points[:-1], points[1:]
            side_a, side_b = a[:, axis] - at, b[:, axis] - at
            hit = np.flatnonzero((side_a < 0) != (side_b < 0))
            for k in hit:
                t = side_a[k] / (side_a[k] - side_b[k])
                along = a[k, 1 - axis] + t * (b[k, 1 - axis] - a[k, 1 - axis])
                if span[0] <= along < span[1]:
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
    at = (b.interior.i0, b.interior.j0)[axis]
    lo = (a.interior.j0, a.interior.i0)[axis]
    return float(at), (float(lo), float(lo + CHUNK_CELLS))
