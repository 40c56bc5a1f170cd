"""Rivers and roads across chunk borders of the open world `terra` (issue #22's measure).

    python benchmarks/bench_crossings.py [--regions 3,3 5,2 6,4] [--cache DIR]

In each region (default: three regions away from the test's region (1, 2)) it takes a
2 x 2 block of chunks each of whose four inner borders is crossed by at least one trunk
river and one main road of the region (counted on the region's coarse lines), the
cheapest such block to build (the fewest region river vertices in it: dense chunks take
minutes, a chunk of the busiest block of region (3, 3) 6.5 min and 21 MB on a loaded
machine; ``--busiest`` takes the block whose borders carry the most lines instead),
builds the four chunks, and for each
border counts the chunk lines (rivers, streams, roads: the polylines features.geojson and
the imagery are drawn from) crossing it on either side and how many continue in the chunk
on the other side: same course within a cell, width within 10 %
(core.plan.borders.continues). Both directions count: a line of the west chunk crossing
the border and a line of the east chunk crossing it are two crossings.

Prints per border and in total the crossings, those that continue, the share, per family
(water, road), and each chunk's build time (a fresh cache unless --cache names one).
Lines that end within half a cell of a border without crossing it are listed apart (they
do not reach the other side; a line that stops at the border would show up there), and
those ending at a town or village on the border's edge cell are counted (a chunk places
settlements on its own cells, edge cells included, and joins each to the road network).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.plan.borders import (  # noqa: E402
    border,
    border_between,
    continues,
    crossings,
    segment_crossings,
)
from core.plan.open import REGION_CELLS  # noqa: E402
from core.plan.plan import CHUNK_CELLS, PlanChunk, WorldPlan  # noqa: E402
from core.plans import plan_spec  # noqa: E402
from core.world import TERRA  # noqa: E402

PER_REGION = REGION_CELLS // CHUNK_CELLS


def _line_hits(segments, axis: int, at: float, span: tuple[float, float]) -> int:
    """How many times the (coarse) lines' segments cross the border axis = at within span."""
    return len(segment_crossings(*segments, axis, at, span)[0])


def block_borders(c0: int, r0: int) -> list[tuple[tuple[int, int], tuple[int, int], int]]:
    """The four inner borders of the 2 x 2 block whose north-west chunk is (c0, r0)."""
    return [
        ((c0, r0), (c0 + 1, r0), 0),
        ((c0, r0 + 1), (c0 + 1, r0 + 1), 0),
        ((c0, r0), (c0, r0 + 1), 1),
        ((c0 + 1, r0), (c0 + 1, r0 + 1), 1),
    ]


def choose_block(plan: WorldPlan, key: tuple[int, int], busiest: bool) -> tuple[int, int]:
    """A block of the region with a river and a road across each of its four borders: the
    one with the fewest region river vertices (cheapest), or (``busiest``) the one whose
    weakest border carries the most region lines (ties: the most lines over all four)."""
    region = plan.region(key)
    river_segments = region.rivers.segments_points()[:2]
    road_segments = region.roads.segments_points()[:2]
    vertices = region.rivers.vertices
    best, best_score = None, None
    for dr in range(PER_REGION - 1):
        for dc in range(PER_REGION - 1):
            c0, r0 = key[0] * PER_REGION + dc, key[1] * PER_REGION + dr
            counts = []
            for one, other, axis in block_borders(c0, r0):
                at, span = border_between(
                    (one[0] * CHUNK_CELLS, one[1] * CHUNK_CELLS),
                    (other[0] * CHUNK_CELLS, other[1] * CHUNK_CELLS),
                    axis,
                )
                rivers = _line_hits(river_segments, axis, at, span)
                roads = _line_hits(road_segments, axis, at, span)
                counts.append((rivers, roads))
            weakest = min(min(r, d) for r, d in counts)
            if busiest:
                score = (weakest, sum(r + d for r, d in counts))
            else:
                x0, y0 = c0 * CHUNK_CELLS, r0 * CHUNK_CELLS
                inside = (
                    (vertices[:, 0] >= x0)
                    & (vertices[:, 0] < x0 + 2 * CHUNK_CELLS)
                    & (vertices[:, 1] >= y0)
                    & (vertices[:, 1] < y0 + 2 * CHUNK_CELLS)
                )
                score = (weakest >= 1, -int(inside.sum()))
            if best_score is None or score > best_score:
                best, best_score = (c0, r0), score
    assert best is not None
    return best


def measure(a: PlanChunk, b: PlanChunk, axis: int):
    at, span = border(a, b, axis)
    here, there = crossings(a, axis, at, span), crossings(b, axis, at, span)
    results = [(c, continues(c, there)) for c in here] + [(c, continues(c, here)) for c in there]
    ends = []
    for chunk in (a, b):
        places = np.array([[s.x, s.y] for s in chunk.settlements]).reshape(-1, 2)
        for lines in (chunk.rivers, chunk.roads):
            for i in range(len(lines)):
                points, _ = lines.line(i)
                for end in (points[0], points[-1]):
                    if abs(end[axis] - at) <= 0.5 and span[0] <= end[1 - axis] < span[1]:
                        # A road ending at a town or village that sits on the edge cell.
                        at_place = bool(len(places)) and np.hypot(*(places - end).T).min() < 0.5
                        ends.append((lines.kinds[i], end, at_place))
    return results, ends


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--regions",
        nargs="+",
        default=["5,2", "2,5", "6,4"],
        help="regions as i,j (8 x 8 regions tile the plane)",
    )
    parser.add_argument("--cache", type=Path, help="plan cache directory (default: a fresh one)")
    parser.add_argument("--busiest", action="store_true", help="the busiest block of each")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="synthtiles-crossings-"))
    plan = WorldPlan(plan_spec(TERRA), cache, max_chunks=4)

    totals: dict[str, list[int]] = {"water": [0, 0], "road": [0, 0]}
    all_ends = place_ends = 0
    builds = []
    for text in args.regions:
        key = tuple(int(v) for v in text.split(","))
        c0, r0 = choose_block(plan, key, args.busiest)
        print(f"region {key}: block of chunks from ({c0}, {r0})", flush=True)
        chunks = {}
        for dc, dr in ((0, 0), (1, 0), (0, 1), (1, 1)):
            name = (c0 + dc, r0 + dr)
            started = time.perf_counter()
            before = len(plan.built)
            chunks[name] = plan.chunk(name)
            if len(plan.built) > before:
                builds.append(time.perf_counter() - started)
        for one, other, axis in block_borders(c0, r0):
            results, ends = measure(chunks[one], chunks[other], axis)
            counts = {f: [0, 0] for f in totals}
            for crossing, ok in results:
                counts[crossing.family][0] += 1
                counts[crossing.family][1] += ok
            for f in totals:
                totals[f][0] += counts[f][0]
                totals[f][1] += counts[f][1]
            n = sum(c[0] for c in counts.values())
            k = sum(c[1] for c in counts.values())
            side = "x" if axis == 0 else "y"
            print(
                f"  {one} | {other} ({side} = {(other[axis]) * CHUNK_CELLS}): "
                f"{k} of {n} crossings continue ({100 * k / max(n, 1):.1f} %); "
                f"water {counts['water'][1]}/{counts['water'][0]}, "
                f"road {counts['road'][1]}/{counts['road'][0]}; "
                f"lines ending at the border {len(ends)} "
                f"({sum(p for _, _, p in ends)} at a settlement on the edge cell)",
                flush=True,
            )
            for crossing, ok in results:
                if not ok:
                    print(f"    does not continue: {crossing}")
            for kind, end, at_place in ends:
                where = " (a settlement there)" if at_place else ""
                print(f"    ends at the border: {kind} at {np.round(end, 2).tolist()}{where}")
            all_ends += len(ends)
            place_ends += sum(p for _, _, p in ends)
    n = sum(t[0] for t in totals.values())
    k = sum(t[1] for t in totals.values())
    print(
        f"total over {4 * len(args.regions)} borders in {len(args.regions)} regions: "
        f"{k} of {n} crossings continue ({100 * k / max(n, 1):.1f} %, target >= 95 %); "
        f"water {totals['water'][1]}/{totals['water'][0]}, "
        f"road {totals['road'][1]}/{totals['road'][0]}; "
        f"lines ending at a border {all_ends} ({place_ends} at a settlement on the edge cell)"
    )
    if builds:
        print(
            f"chunk builds: {len(builds)}, median {float(np.median(builds)):.1f} s, "
            f"max {max(builds):.1f} s (cache {cache})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
