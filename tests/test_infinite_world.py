"""The open world (plan version 2, core/plan/open.py): rivers and roads run on across chunk
borders, a chunk is a pure function of (world, chunk), and a new chunk is built once
however many processes ask for it at the same time.

Real chunks of the built-in ``terra`` world (a 2 x 2 block, 4 chunk borders, each chunk
~10 s to build on one core), a real plan cache on disk and real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.layout import PlanLayout
from core.plan import hydrology
from core.plan.borders import border, continues, crossings
from core.plan.grid import CELLS, CellWindow
from core.plan.open import (
    COARSE,
    REGION_CELLS,
    TRUNK_KM2,
    coarse_drainage,
    refine,
    river_course,
)
from core.plan.plan import CHUNK_CELLS, OPEN_PLAN_VERSION, WorldPlan
from core.plan.raster import rasterize
from core.plans import plan_spec
from core.png import encode_plain
from core.world import TERRA, WorldCatalog

ROOT = Path(__file__).resolve().parents[1]
REGION = (1, 2)
# A 2 x 2 block of chunks inside REGION with land, rivers and roads on every border.
BLOCK = [(11, 19), (12, 19), (11, 20), (12, 20)]
LAST = (12, 20)  # built after its three neighbours
BORDERS = [  # (chunk, chunk on the other side, axis: 0 = vertical border x, 1 = horizontal y)
    ((11, 19), (12, 19), 0),
    ((11, 20), (12, 20), 0),
    ((11, 19), (11, 20), 1),
    ((12, 19), (12, 20), 1),
]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> WorldPlan:
    built = WorldPlan(plan_spec(TERRA), tmp_path_factory.mktemp("open-plans"), max_chunks=8)
    for key in BLOCK:  # LAST comes last: built after its neighbours
        built.chunk(key)
    return built


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[str]]]:
    """Two processes asking at once for LAST in an empty cache: (cache, what each built)."""
    cache = tmp_path_factory.mktemp("open-alone")
    code = textwrap.dedent(
        f"""
        import json, sys, time
        from pathlib import Path
        from core.plan.plan import WorldPlan
        from core.plans import plan_spec
        from core.world import TERRA
        plan = WorldPlan(plan_spec(TERRA), Path({str(cache)!r}))
        start = float(sys.argv[1])
        while time.time() < start:
            time.sleep(0.01)
        plan.chunk({LAST!r})
        print(json.dumps(plan.built))
        """
    )
    import time

    start = str(time.time() + 3.0)  # both start building at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, start], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    return cache, [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def test_terra_is_a_built_in_open_world_over_the_whole_plane() -> None:
    catalog = WorldCatalog.load(None)
    assert catalog.get("terra") == TERRA
    spec = plan_spec(TERRA)
    assert spec.version == OPEN_PLAN_VERSION and spec.chunked
    x0, y0, x1, y1 = spec.extent
    assert x0 < 1 and y0 < 1 and x1 > CELLS - 1 and y1 > CELLS - 1


def test_every_river_and_road_crossing_a_chunk_border_continues_on_the_other_side(
    plan: WorldPlan,
) -> None:
    total = continued = 0
    families = set()
    for one, other, axis in BORDERS:
        a, b = plan.chunk(one), plan.chunk(other)
        at, span = border(a, b, axis)
        here, there = crossings(a, axis, at, span), crossings(b, axis, at, span)
        # Both ways: same course (within a cell) and width within 10 % on the other side.
        for mine, theirs in ((here, there), (there, here)):
            total += len(mine)
            continued += sum(continues(c, theirs) for c in mine)
        families |= {c.family for c in here + there}
    assert families == {"water", "road"}
    assert total >= 8  # several rivers and roads on the four borders
    assert continued == total, f"{continued} of {total} crossings continue"


def test_only_the_regions_lines_reach_a_chunk_border(plan: WorldPlan) -> None:
    """What a chunk adds (streams, town and village roads) stays inside it."""
    region = plan.region(REGION)
    trunk_width = set(np.round(region.rivers.width_m.astype(np.float64), 0))
    for key in BLOCK:
        chunk = plan.chunk(key)
        box = chunk.interior
        for lines in (chunk.rivers, chunk.roads):
            for i in range(len(lines)):
                points, widths = lines.line(i)
                outside = ~box.contains(points[:, 0], points[:, 1])
                if outside.any():
                    # A region line: trunk rivers are at least TRUNK_KM2 wide, main roads.
                    assert lines.kinds[i] in ("river", "main")
                    if lines is chunk.rivers:
                        assert widths.min() >= 1.6 * TRUNK_KM2**0.55 * 0.99
    assert trunk_width  # the region has trunk rivers


def test_trunk_rivers_flow_downhill_into_the_sea_or_a_lake(plan: WorldPlan) -> None:
    window, _, _, height, drainage = coarse_drainage(plan.terrain, REGION)
    n = REGION_CELLS // COARSE
    # The region's border is sea: no river leaves it, every outlet is sea.
    edge = np.concatenate(
        [drainage.sea[0], drainage.sea[-1], drainage.sea[:, 0], drainage.sea[:, -1]]
    )
    assert edge.all()
    surface = drainage.surface.ravel()
    water = (drainage.sea | (drainage.lake > 0)).ravel()
    courses = hydrology.river_courses(drainage, TRUNK_KM2)
    assert len(courses) > 50
    for course in courses:
        levels = surface[course]
        assert (np.diff(levels) <= 1e-6).all()
        # Follow the water from the course's end: it reaches the sea or a lake.
        cell = course[-1]
        for _ in range(n * n):
            if water[cell]:
                break
            cell = int(drainage.receiver[cell])
            assert cell >= 0
        assert water[cell]
    assert height.shape == (n, n) and window.width == n


def test_streams_end_in_water_or_another_river(plan: WorldPlan) -> None:
    """Every river and stream ending in the chunk ends in water or on another line; a
    trunk river joining another ends on its very course (trunk lines are smoothed at the
    region's scale, which cuts the confluence's corner by up to ~2 cells: refine bends the
    tributary's mouth onto the receiver's refined course)."""
    chunk = plan.chunk(LAST)
    box = chunk.interior
    vertices = chunk.rivers.vertices
    owner = np.searchsorted(chunk.rivers.starts, np.arange(len(vertices)), side="right") - 1
    wet = chunk.water_level >= chunk.height - 1.0
    ends = trunk_joins = 0
    for i in range(len(chunk.rivers)):
        points, _ = chunk.rivers.line(i)
        end, source = points[-1], points[0]
        if not box.contains(end[:1], end[1:])[0]:
            continue
        ends += 1
        r, c = int(end[1]) - chunk.window.j0, int(end[0]) - chunk.window.i0
        near = wet[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].any()
        d = np.hypot(*(vertices[owner != i] - end).T)
        gap = float(d.min()) if d.size else np.inf
        assert near or gap <= 1.5, f"line {i} ends at {end} in nothing ({gap:.2f} cells)"
        if not box.contains(points[:, 0], points[:, 1]).all() and not near:
            # A region line (it reaches past the chunk) joining another: on it.
            assert gap <= 0.1, f"trunk river {i} ends {gap:.2f} cells off the river it joins"
            trunk_joins += 1
        if box.contains(source[:1], source[1:])[0]:
            # Downhill: its mouth lies no higher than its source (the filled surface; the
            # vertices bend up to a cell off the course: a few metres on flat ground).
            around = chunk.surface[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2]
            assert around.min() <= chunk.nearest(chunk.surface, source[:1], source[1:])[0] + 5.0
    assert ends > 50
    assert trunk_joins >= 1  # the chunk has trunk rivers ending in others


def test_trunk_tributaries_end_on_the_river_they_join(plan: WorldPlan) -> None:
    """Every trunk river of the region that does not end in water ends on the refined
    course of the river it joins (a function of the two lines: the same in every chunk
    that draws the mouth), though the smoothed lines miss each other there."""
    region = plan.region(REGION)
    joined = np.flatnonzero(region.mouth_line >= 0)
    assert len(joined) > 50  # confluences of trunk rivers are common
    missed = []
    for i in joined.tolist():
        tributary = river_course(region.rivers, i, plan.spec.seed)
        receiver = river_course(region.rivers, int(region.mouth_line[i]), plan.spec.seed)
        end = tributary.points[-1]
        box = CellWindow(int(end[0]) - 8, int(end[1]) - 8, 16, 16)
        mouth = receiver.at(np.array([float(region.mouth_arc[i])]))[0]
        drawn = refine(tributary, box, mouth=mouth)[-1][0][-1]
        course = np.vstack([points for points, _, _ in refine(receiver, box)])
        assert np.hypot(*(course - drawn).T).min() <= 0.05, (i, drawn)
        missed.append(np.hypot(*(course - end).T).min())
    assert np.median(missed) > 0.5  # without the bend, the mouth misses its receiver


def test_two_processes_asking_for_a_new_chunk_at_once_build_it_once(alone) -> None:
    _, built = alone
    chunk_name = f"plan-{plan_spec(TERRA).key}-{LAST[0]}-{LAST[1]}.npz"
    assert sum(names.count(chunk_name) for names in built) == 1, built
    assert sum(sum(n.startswith("region-") for n in names) for names in built) == 1, built


def test_a_chunk_built_alone_equals_the_same_chunk_built_after_its_neighbours(
    plan: WorldPlan, alone
) -> None:
    cache, _ = alone
    alone_plan = WorldPlan(plan_spec(TERRA), cache)
    lone, after = alone_plan.chunk(LAST), plan.chunk(LAST)
    assert alone_plan.built == []  # read from the cache the other processes wrote
    a, b = lone.arrays(), after.arrays()
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    # ... and so are the tiles drawn from it (the layout that conditions the imagery).
    tile_px = 256 * 2**12 * (LAST[0] * CHUNK_CELLS + 100) // CELLS
    tile_py = 256 * 2**12 * (LAST[1] * CHUNK_CELLS + 100) // CELLS
    for source in (alone_plan, plan):
        raster = rasterize(source, 12, tile_px, tile_py, 256, 256)
        assert raster.classes.shape == (256, 256)
    tiles = [
        encode_plain(PlanLayout(TERRA, source).debug_tile(12, tile_px // 256, tile_py // 256))
        for source in (alone_plan, plan)
    ]
    assert tiles[0] == tiles[1]


def test_the_memory_lru_keeps_at_most_its_size(plan: WorldPlan, tmp_path: Path) -> None:
    small = WorldPlan(plan_spec(TERRA), plan.cache_dir, max_chunks=2)
    for key in BLOCK:
        small.chunk(key)
    assert small.built == [] and len(small._chunks) == 2
    assert list(small._chunks) == BLOCK[-2:]
