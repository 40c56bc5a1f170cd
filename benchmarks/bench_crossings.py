"""Rivers and roads across chunk borders of the open world `terra` (issue #22's measure).

    python benchmarks/bench_crossings.py [--regions 3,3 5,2 6,4] [--cache DIR]

In each region (default: three regions away from the test's region (1, 2)) it takes the
2 x 2 block of chunks whose four inner borders carry the most region lines (trunk rivers
and main roads, counted on the region's coarse lines: the block where most lines reach a
border, so the figure rests on many crossings), builds the four chunks, and for each
border counts the chunk lines (rivers, streams, roads: the polylines features.geojson and
the imagery are drawn from) crossing it on either side and how many continue in the chunk
on the other side: same course within a cell, width within 10 %
(core.plan.borders.continues). Both directions count: a line of the west chunk crossing
the border and a line of the east chunk crossing it are two crossings.

Prints per border and in total the crossings, those that continue, the share, per family
(water, road), and each chunk's build time (a fresh cache unless --cache names one).
Lines that end within half a cell of a border without crossing it are listed apart (they
do not reach the other side; a line that stops at the border would show up there).
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

from core.plan.borders import border, continues, crossings  # noqa: E402
from core.plan.open import REGION_CELLS  # noqa: E402
from core.plan.plan import CHUNK_CELLS, PlanChunk, WorldPlan  # noqa: E402
from core.plans import plan_spec  # noqa: E402
from core.world import TERRA  # noqa: E402

PER_REGION = REGION_CELLS // CHUNK_CELLS


def _line_hits(segments, axis: int, at: float, span: tuple[float, float]) -> int:
    """How many times the (coarse) lines' segments cross the border axis = at within span."""
    a, b = segments
    sa, sb = a[:, axis] - at, b[:, axis] - at
    hit = np.flatnonzero((sa < 0) != (sb < 0))
    t = sa[hit] / (sa[hit] - sb[hit])
    along = a[hit, 1 - axis] + t * (b[hit, 1 - axis] - a[hit, 1 - axis])
    return int(((along >= span[0]) & (along < span[1])).sum())


def block_borders(c0: int, r0: int) -> list[tuple[tuple[int, int], tuple[int, int], int]]:
    """The four inner borders of the 2 x 2 block whose north-west chunk is (c0, r0)."""
    return [
        ((c0, r0), (c0 + 1, r0), 0),
        ((c0, r0 + 1), (c0 + 1, r0 + 1), 0),
        ((c0, r0), (c0, r0 + 1), 1),
        ((c0 + 1, r0), (c0 + 1, r0 + 1), 1),
    ]


def _coarse_border(one: tuple[int, int], other: tuple[int, int], axis: int):
    at = (other[0] * CHUNK_CELLS, other[1] * CHUNK_CELLS)[axis]
    lo = (one[1] * CHUNK_CELLS, one[0] * CHUNK_CELLS)[axis]
    return at, (lo, lo + CHUNK_CELLS)


def busiest_block(plan: WorldPlan, key: tuple[int, int]) -> tuple[int, int]:
    """The block of the region whose weakest border carries the most region lines (rivers
    and roads both counted; ties: the most lines over all four)."""
    region = plan.region(key)
    river_segments = region.rivers.segments_points()[:2]
    road_segments = region.roads.segments_points()[:2]
    best, best_score = None, None
    for dr in range(PER_REGION - 1):
        for dc in range(PER_REGION - 1):
            c0, r0 = key[0] * PER_REGION + dc, key[1] * PER_REGION + dr
            counts = []
            for one, other, axis in block_borders(c0, r0):
                at, span = _coarse_border(one, other, axis)
                rivers = _line_hits(river_segments, axis, at, span)
                roads = _line_hits(road_segments, axis, at, span)
                counts.append((rivers, roads))
            weakest = min(min(r, d) for r, d in counts)
            score = (weakest, sum(r + d for r, d in counts))
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
        for lines in (chunk.rivers, chunk.roads):
            for i in range(len(lines)):
                points, _ = lines.line(i)
                for end in (points[0], points[-1]):
                    if abs(end[axis] - at) <= 0.5 and span[0] <= end[1 - axis] < span[1]:
                        ends.append((lines.kinds[i], end))
    return results, ends


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--regions",
        nargs="+",
        default=["3,3", "5,2", "6,4"],
        help="regions as i,j (8 x 8 regions tile the plane)",
    )
    parser.add_argument("--cache", type=Path, help="plan cache directory (default: a fresh one)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="synthtiles-crossings-"))
    plan = WorldPlan(plan_spec(TERRA), cache, max_chunks=4)

    totals: dict[str, list[int]] = {"water": [0, 0], "road": [0, 0]}
    all_ends = 0
    builds = []
    for text in args.regions:
        key = tuple(int(v) for v in text.split(","))
        c0, r0 = busiest_block(plan, key)
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
                f"lines ending at the border {len(ends)}",
                flush=True,
            )
            for crossing, ok in results:
                if not ok:
                    print(f"    does not continue: {crossing}")
            for kind, end in ends:
                print(f"    ends at the border: {kind} at {np.round(end, 2).tolist()}")
            all_ends += len(ends)
    n = sum(t[0] for t in totals.values())
    k = sum(t[1] for t in totals.values())
    print(
        f"total over {4 * len(args.regions)} borders in {len(args.regions)} regions: "
        f"{k} of {n} crossings continue ({100 * k / max(n, 1):.1f} %, target >= 95 %); "
        f"water {totals['water'][1]}/{totals['water'][0]}, "
        f"road {totals['road'][1]}/{totals['road'][0]}; "
        f"lines ending at a border {all_ends}"
    )
    if builds:
        print(
            f"chunk builds: {len(builds)}, median {float(np.median(builds)):.1f} s, "
            f"max {max(builds):.1f} s (cache {cache})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
