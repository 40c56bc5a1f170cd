"""Open worlds (plan version 2): a coarse-to-fine plan over the whole Web-Mercator plane
whose rivers and roads run on across chunk borders by construction.

Two levels, each a pure function of (world, its key):

- A **region** (``REGION_CELLS`` = 4096 cells, ~4,900 km at the equator; 8 x 8 of them
  tile the plane) is planned on a coarse grid of ``COARSE`` x ``COARSE`` cells (~10 km).
  The relief sinks into a deep ocean along every region border (``Terrain.region_cells``),
  so a region is a closed system: no water and no road crosses its border. On the coarse
  grid it fixes the sea, the large lakes, the **trunk rivers** (catchment from
  ``TRUNK_KM2``) with their widths, the **cities** and the **main roads** between them
  (relative neighbourhood graph of least-cost paths). These lines are stored at coarse
  resolution; they are everything that may cross a chunk border.
- A **chunk** (512 cells, as in version 1) refines inside its own cells only, with the
  region's lines as boundary conditions: each region line that passes through the chunk
  is densified and meandered as a function of its arc length from its own start
  (``refine``), so the piece in each of two neighbouring chunks has the same vertices
  where they overlap; the fine drainage drains into the sea, the lakes and the trunk
  rivers (the chunk's edge is an outlet too, but streams draining to it are dropped and no
  stream starts within ``EDGE_KEEP`` cells of it); towns and villages join the main roads
  by roads inside the chunk. So nothing a chunk adds reaches its border, and what crosses
  the border is the region's.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.sparse.csgraph import dijkstra

from core.noise import fractal_noise, hash_uniform
from core.plan import hydrology, roads
from core.plan.grid import CellWindow, metres_per_cell
from core.plan.lines import Polylines, chaikin
from core.plan.plan import PlanChunk, PlanSpec
from core.plan.settlements import (
    KEEP_AWAY,
    POPULATION,
    SITE_SHARE,
    Settlement,
    place,
    settlement_name,
    suitability,
)
from core.plan.terrain import Terrain

REGION_CELLS = 4096
COARSE = 8  # plan cells per coarse cell
TRUNK_KM2 = 1000.0  # rivers from this catchment are the region's (they may cross chunks)
CITY_SITE = 12  # coarse cells per city site (96 plan cells, as in version 1)
EDGE_KEEP = 3  # no stream of a chunk starts this near (cells) the chunk's edge
RIVER_SPACING_M = 40.0
ROAD_SPACING_M = 60.0


def region_key(i: float, j: float) -> tuple[int, int]:
    return math.floor(i / REGION_CELLS), math.floor(j / REGION_CELLS)


@dataclass
class Region:
    """The coarse plan of one region: what every chunk inside it agrees on."""

    key: tuple[int, int]
    sea: np.ndarray  # bool (n, n) coarse cells
    lake_level: np.ndarray  # float32 (n, n): lake surface, -inf where no lake
    rivers: Polylines  # trunk rivers, coarse vertices in plan-cell units, source first
    river_levels: np.ndarray  # float32 per river vertex: its water level, falling downstream
    # Per river: the river it flows into (-1: it ends in the sea or a lake) and the arc
    # length along that river (plan cells from its source) where it joins.
    mouth_line: np.ndarray  # int64
    mouth_arc: np.ndarray  # float64
    roads: Polylines  # main roads between cities
    cities: list[Settlement]

    @property
    def i0(self) -> int:
        return self.key[0] * REGION_CELLS

    @property
    def j0(self) -> int:
        return self.key[1] * REGION_CELLS

    def coarse_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = REGION_CELLS // COARSE
        c = np.clip(np.floor((x - self.i0) / COARSE).astype(np.int64), 0, n - 1)
        r = np.clip(np.floor((y - self.j0) / COARSE).astype(np.int64), 0, n - 1)
        return r, c

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "key": np.array(self.key),
            "sea": self.sea,
            "lake_level": self.lake_level,
            "river_levels": self.river_levels,
            "mouth_line": self.mouth_line,
            "mouth_arc": self.mouth_arc,
            "cities": np.array(json.dumps([asdict(s) for s in self.cities])),
            **self.rivers.to_arrays("rivers"),
            **self.roads.to_arrays("roads"),
        }

    @classmethod
    def load(cls, path: Path) -> Region:
        with np.load(path) as data:
            a = {name: data[name] for name in data.files}
        return cls(
            key=(int(a["key"][0]), int(a["key"][1])),
            sea=a["sea"],
            lake_level=a["lake_level"],
            rivers=Polylines.from_arrays(a, "rivers"),
            river_levels=a["river_levels"],
            mouth_line=a["mouth_line"],
            mouth_arc=a["mouth_arc"],
            roads=Polylines.from_arrays(a, "roads"),
            cities=[Settlement(**s) for s in json.loads(str(a["cities"]))],
        )


def coarse_drainage(
    terrain: Terrain, key: tuple[int, int]
) -> tuple[CellWindow, np.ndarray, np.ndarray, np.ndarray, hydrology.Drainage]:
    """A region's coarse grid: (window in coarse cells, x, y in plan cells, height, drainage)."""
    n = REGION_CELLS // COARSE
    window = CellWindow(key[0] * n, key[1] * n, n, n)
    cx, cy = window.centres()
    x, y = cx * COARSE, cy * COARSE
    height = terrain.coarse(x, y).astype(np.float32)
    m_cell = np.asarray(metres_per_cell(y), np.float64) * COARSE
    return window, x, y, height, hydrology.drain(height, (m_cell / 1000.0) ** 2)


def build_region(seed: int, terrain: Terrain, key: tuple[int, int]) -> Region:
    n = REGION_CELLS // COARSE
    window, x, y, height, drainage = coarse_drainage(terrain, key)
    m_cell = np.asarray(metres_per_cell(y), np.float64) * COARSE
    lake = drainage.lake > 0
    lake_level = np.where(lake, drainage.surface, -np.inf).astype(np.float32)
    land = ~drainage.sea & ~lake

    rivers, levels = [], []
    catchment = drainage.catchment_km2.ravel()
    courses = hydrology.river_courses(drainage, TRUNK_KM2)
    for course in courses:
        rows, cols = np.divmod(np.asarray(course), n)
        points = np.stack([x[rows, cols], y[rows, cols]], 1).astype(np.float64)
        area = catchment[course].astype(np.float64)
        area[-1] = area[-2]
        width = np.clip(1.6 * area**0.55, 3.0, 900.0)
        level = drainage.surface.ravel()[course].astype(np.float64)
        _, level = chaikin(points, level, 2)
        points, width = chaikin(points, width, 2)
        rivers.append((points, width.astype(np.float32), "river"))
        levels.append(np.minimum.accumulate(level).astype(np.float32))
    mouth_line, mouth_arc = _mouths(courses, rivers, (drainage.sea | lake).ravel())
    trunk = (drainage.catchment_km2 >= TRUNK_KM2) & land

    gy, gx = np.gradient(height.astype(np.float64))
    slope = np.hypot(gx, gy) / m_cell
    near = ndimage.distance_transform_edt(~(trunk | ~land)) if land.any() else np.inf
    score = suitability(height, slope, np.exp(-np.asarray(near) / 2.0), land)
    cities = _cities(seed, key, score, x, y)

    u, v = x / (REGION_CELLS * 8), y / (REGION_CELLS * 8)
    wander = 0.6 + 0.8 * fractal_noise(u, v, 8.0, 3, seed + 71)
    # Main roads keep off the sea and the large lakes (no ferries in a plan).
    graph = roads.cost_graph(slope * COARSE, land, trunk, lake, wander)
    cells = [
        int((s.y - window.j0 * COARSE) // COARSE) * n + int((s.x - window.i0 * COARSE) // COARSE)
        for s in cities
    ]
    road_lines = []
    for chain, kind in roads.chains(_main_edges(graph, cells)):
        rows, cols = np.divmod(np.asarray(chain), n)
        coarse_pts = np.stack([cols + 0.5, rows + 0.5], 1).astype(np.float64)
        pinned = [i for i, cell in enumerate(chain) if cell in set(cells)]
        from core.plan.plan import _soften

        pts = (_soften(coarse_pts, pinned, 1.2) + np.array([window.i0, window.j0])) * COARSE
        width = np.full(len(pts), 9.0)
        pts, width = chaikin(pts, width, 2)
        road_lines.append((pts, width.astype(np.float32), kind))
    return Region(
        key=key,
        sea=drainage.sea,
        lake_level=lake_level,
        rivers=Polylines.from_lines(rivers),
        river_levels=np.concatenate(levels) if levels else np.zeros(0, np.float32),
        mouth_line=mouth_line,
        mouth_arc=mouth_arc,
        roads=Polylines.from_lines(road_lines),
        cities=cities,
    )


def _mouths(
    courses: list[list[int]],
    rivers: list[tuple[np.ndarray, np.ndarray, str]],
    water: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Where each trunk river ends: in water (-1), or in the river that reached its last
    cell first (courses are traced longest first) at the arc length of that river's
    smoothed line nearest to its mouth. Smoothing cuts the corner at the confluence cell:
    the tributary's last vertex lies up to ~2 cells off its receiver, and is joined onto it
    in ``refine``."""
    first: dict[int, int] = {}
    for index, course in enumerate(courses):
        for cell in course[:-1]:
            first.setdefault(cell, index)
    line = np.full(len(courses), -1, np.int64)
    arc = np.zeros(len(courses), np.float64)
    for index, course in enumerate(courses):
        receiver = first.get(course[-1], -1)
        if water[course[-1]] or receiver < 0 or receiver == index:
            continue
        points = rivers[receiver][0]
        end = rivers[index][0][-1]
        a, b = points[:-1], points[1:]
        d = b - a
        length = np.hypot(d[:, 0], d[:, 1])
        t = np.clip(((end - a) * d).sum(1) / np.maximum(length**2, 1e-12), 0.0, 1.0)
        k = int(np.argmin(np.hypot(*(a + t[:, None] * d - end).T)))
        line[index] = receiver
        arc[index] = float(np.sum(length[:k]) + t[k] * length[k])
    return line, arc


def _cities(
    seed: int, key: tuple[int, int], score: np.ndarray, x: np.ndarray, y: np.ndarray
) -> list[Settlement]:
    n = score.shape[0]
    cities = []
    for sj in range(n // CITY_SITE):
        for si in range(n // CITY_SITE):
            gi, gj = key[0] * 1000 + si, key[1] * 1000 + sj
            block = score[
                sj * CITY_SITE : (sj + 1) * CITY_SITE, si * CITY_SITE : (si + 1) * CITY_SITE
            ]
            jitter = hash_uniform(
                np.arange(block.size) + gi * 7919, np.full(block.size, gj), seed + 131
            ).reshape(block.shape)
            block = block * (0.75 + 0.25 * jitter)
            best = int(np.argmax(block))
            if block.flat[best] < 0.25:
                continue
            if hash_uniform(np.array([gi]), np.array([gj]), seed + 141)[0] > SITE_SHARE["city"]:
                continue
            r, c = divmod(best, CITY_SITE)
            r, c = sj * CITY_SITE + r, si * CITY_SITE + c
            lo, hi = POPULATION["city"]
            size = hash_uniform(np.array([gi]), np.array([gj]), seed + 151)[0]
            name = settlement_name(seed, (gi * 1_000_003 + gj) * 3 + 7)
            # The centre cell of its coarse cell: a plan cell centre.
            cities.append(
                Settlement(
                    float(x[r, c]) + 0.5,
                    float(y[r, c]) + 0.5,
                    "city",
                    int(lo * (hi / lo) ** (size**2)),
                    name,
                )
            )
    return cities


def _main_edges(graph, cells: list[int]) -> dict[tuple[int, int], str]:
    """Main roads: the relative neighbourhood graph of the least-cost paths between cities
    whose cost regions touch (one multi-source Dijkstra: the path between two touching
    cities runs through the cheapest graph edge between their regions)."""
    edges: dict[tuple[int, int], str] = {}
    if len(cells) < 2:
        return edges
    dist, pred, src = dijkstra(graph, indices=cells, min_only=True, return_predecessors=True)
    coo = graph.tocoo()
    a, b, w = coo.row, coo.col, coo.data
    ok = (src[a] >= 0) & (src[b] >= 0) & (src[a] != src[b])
    a, b, w = a[ok], b[ok], w[ok]
    total = dist[a] + w + dist[b]
    sa, sb = src[a], src[b]
    lo, hi = np.minimum(sa, sb), np.maximum(sa, sb)
    order = np.lexsort((total, hi, lo))
    lo, hi, total, a, b = lo[order], hi[order], total[order], a[order], b[order]
    first = np.ones(len(lo), bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    pairs = {
        (int(p), int(q)): (float(t), int(u), int(v))
        for p, q, t, u, v in zip(
            lo[first], hi[first], total[first], a[first], b[first], strict=True
        )
    }
    partners: dict[int, dict[int, float]] = {}
    for (p, q), (t, _, _) in pairs.items():
        partners.setdefault(p, {})[q] = t
        partners.setdefault(q, {})[p] = t

    def walk(cell: int) -> list[int]:
        path = [cell]
        while pred[path[-1]] >= 0:
            path.append(int(pred[path[-1]]))
        return path

    for (p, q), (t, u, v) in sorted(pairs.items()):
        common = set(partners[p]) & set(partners[q])
        if any(max(partners[p][c], partners[q][c]) < t for c in common):
            continue
        path = walk(u)[::-1] + walk(v)
        for c0, c1 in itertools.pairwise(path):
            edges[(min(c0, c1), max(c0, c1))] = roads.MAIN
    return edges


@dataclass(frozen=True)
class Course:
    """A region line's refined course: a pure function of the line (never of a chunk)."""

    points: np.ndarray
    widths: np.ndarray
    arc: np.ndarray
    total: float
    step: float
    wavelength: float
    h: np.ndarray
    max_amplitude_cells: float

    @classmethod
    def of(
        cls,
        points: np.ndarray,
        widths: np.ndarray,
        seed: int,
        spacing_m: float,
        wavelength_per_width: float,
        min_wavelength_m: float,
        max_amplitude_cells: float,
    ) -> Course:
        steps = np.hypot(*np.diff(points, axis=0).T)
        arc = np.concatenate([[0.0], np.cumsum(steps)])
        m_cell = float(metres_per_cell(float(points[0, 1])))
        wavelength = max(float(np.median(widths)) * wavelength_per_width, min_wavelength_m) / m_cell
        h = hash_uniform(
            np.arange(9) + int(points[0, 0] * 64), np.full(9, int(points[0, 1] * 64)), seed
        )
        return cls(
            points,
            widths,
            arc,
            float(arc[-1]),
            spacing_m / m_cell,
            wavelength,
            h,
            max_amplitude_cells,
        )

    def at(self, s: np.ndarray) -> np.ndarray:
        """The meandered vertices at arc lengths ``s`` (plan cells from the start)."""
        points, arc, step, wavelength, h = self.points, self.arc, self.step, self.wavelength, self.h
        base = np.stack([np.interp(s, arc, points[:, 0]), np.interp(s, arc, points[:, 1])], 1)
        ahead = np.stack(
            [np.interp(s + step, arc, points[:, 0]), np.interp(s + step, arc, points[:, 1])], 1
        )
        behind = np.stack(
            [np.interp(s - step, arc, points[:, 0]), np.interp(s - step, arc, points[:, 1])], 1
        )
        tangent = ahead - behind
        tangent /= np.maximum(np.hypot(*tangent.T), 1e-12)[:, None]
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
        offset = np.zeros(len(s))
        for j, (scale, weight) in enumerate(((1.0, 0.8), (3.7, 0.5), (13.0, 0.9))):
            lam = wavelength * scale
            amount = 0.25 + 0.75 * float(h[6 + j])
            # Phase speed wobbling along the line (closed form of its integral).
            phase = (
                2
                * np.pi
                * (s - 0.45 * 2.3 * lam * np.cos(s / (2.3 * lam) + h[j + 3] * 2 * np.pi))
                / lam
            )
            offset += (
                weight
                * amount
                * np.sin(phase + h[j] * 2 * np.pi)
                * min(0.16 * lam, self.max_amplitude_cells)
            )
        taper = np.minimum(1.0, np.minimum(s, self.total - s) / max(2 * wavelength, 1e-9))
        return base + normal * (offset * taper / 1.6)[:, None]


MOUTH_REACH = 4.0  # a tributary bends onto its receiver over this many times the gap


def refine(
    course: Course,
    box: CellWindow,
    values: np.ndarray | None = None,
    mouth: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """The pieces of a region line that pass through ``box`` (plus a few cells), densified
    and meandered. Every vertex is a function of its arc length from the line's start
    (a multiple of the spacing) and of the whole line, never of the box: two chunks
    compute the same vertices where their pieces overlap, so a line crosses a chunk
    border without a seam. ``mouth``: the point (on the receiving river's refined course)
    where the line ends; its last stretch bends onto it, as a function of arc length too."""
    points, widths, arc, total, step = (
        course.points,
        course.widths,
        course.arc,
        course.total,
        course.step,
    )
    if total <= 0:
        return []
    grown = box.grown(4)
    inside = grown.contains(points[:, 0], points[:, 1])
    # Segments that cross the grown box without a vertex in it count too.
    seg_in = np.zeros(len(points), bool)
    mid = 0.5 * (points[1:] + points[:-1])
    seg_in[:-1] = grown.contains(mid[:, 0], mid[:, 1])
    inside |= seg_in | np.concatenate([[False], seg_in[:-1]])
    pieces = []
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return []
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    for run in runs:
        s_lo = arc[max(int(run[0]) - 1, 0)]
        s_hi = arc[min(int(run[-1]) + 1, len(arc) - 1)]
        k = np.arange(math.ceil(s_lo / step), math.floor(s_hi / step) + 1)
        s = k * step
        if s_lo == 0.0 and (s.size == 0 or s[0] > 0):
            s = np.concatenate([[0.0], s])
        if s_hi == total and (s.size == 0 or s[-1] < total):
            s = np.concatenate([s, [total]])
        if s.size < 2:
            continue
        pts = course.at(s)
        if mouth is not None:
            gap = mouth - points[-1]
            reach = max(MOUTH_REACH * float(np.hypot(*gap)), 1.0)
            ramp = np.clip(1.0 - (total - s) / reach, 0.0, 1.0) ** 2
            pts = pts + ramp[:, None] * gap
        extra = None if values is None else np.interp(s, arc, values).astype(np.float32)
        pieces.append((pts, np.interp(s, arc, widths).astype(np.float32), extra))
    return pieces


RIVER_MEANDER = (RIVER_SPACING_M, 11.0, 250.0, 0.3)  # spacing, wavelength/width, min, cap
ROAD_MEANDER = (ROAD_SPACING_M, 300.0, 2500.0, 0.12)


def river_course(rivers: Polylines, index: int, seed: int) -> Course:
    """The refined course of the region's trunk river ``index``."""
    return Course.of(*rivers.line(index), seed + 61, *RIVER_MEANDER)


def region_lines(
    lines: Polylines,
    box: CellWindow,
    seed: int,
    river: bool,
    levels: np.ndarray | None = None,
    mouths: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[list[tuple[np.ndarray, np.ndarray, str]], list[np.ndarray]]:
    """The region's lines through ``box``, refined; and (rivers) each vertex's level.
    ``mouths`` (rivers): the region's mouth_line, mouth_arc."""
    out, out_levels = [], []
    grown = box.grown(8 * COARSE)
    near = lines.in_box(grown.i0, grown.j0, grown.i0 + grown.width, grown.j0 + grown.height)

    def course(i: int) -> Course:
        if river:
            return river_course(lines, i, seed)
        return Course.of(*lines.line(i), seed + 67, *ROAD_MEANDER)

    for i in np.flatnonzero(near):
        i = int(i)
        values = mouth = None
        if river:
            a, b = lines.starts[i], lines.starts[i + 1]
            values = None if levels is None else levels[a:b]
            if mouths is not None and mouths[0][i] >= 0:
                target = course(int(mouths[0][i]))
                mouth = target.at(np.array([float(mouths[1][i])]))[0]
        pieces = refine(course(i), box, values, mouth)
        out += [(p, w, lines.kinds[i]) for p, w, _ in pieces]
        out_levels += [v for _, _, v in pieces]
    return out, out_levels


def line_cells(lines: list[tuple[np.ndarray, np.ndarray, str]], window: CellWindow) -> np.ndarray:
    """The window's cells that the lines pass through (their vertices are dense)."""
    mask = np.zeros(window.shape, bool)
    for points, _, _ in lines:
        c = np.floor(points[:, 0] - window.i0).astype(np.int64)
        r = np.floor(points[:, 1] - window.j0).astype(np.int64)
        ok = (c >= 0) & (c < window.width) & (r >= 0) & (r < window.height)
        mask[r[ok], c[ok]] = True
    return mask


def build_open_chunk(spec: PlanSpec, interior: CellWindow, region: Region) -> PlanChunk:
    """One chunk of an open world: the region's lines through it plus what the chunk adds
    inside its own cells (see the module's docstring)."""
    terrain = spec.terrain()
    window = interior
    ring = window.grown(1)  # water levels see one cell past the edge (pure per cell)
    rx, ry = ring.centres()
    ring_height = terrain.coarse(rx, ry).astype(np.float32)
    rr, rc = region.coarse_index(rx, ry)
    near_sea = ndimage.maximum_filter(region.sea, size=3)[rr, rc]
    near_lake = ndimage.maximum_filter(region.lake_level, size=3)[rr, rc]
    ring_sea = (ring_height < 0.0) & near_sea
    ring_lake = np.isfinite(near_lake) & (ring_height < near_lake) & ~ring_sea
    level = np.full(ring.shape, -np.inf, np.float32)
    level[ring_sea] = 0.0
    level[ring_lake] = near_lake[ring_lake]
    height = ring_height[1:-1, 1:-1]
    sea, lake = ring_sea[1:-1, 1:-1], ring_lake[1:-1, 1:-1]

    x, y = window.centres()
    m_cell = np.asarray(metres_per_cell(y), np.float64)
    m_mean = float(m_cell.mean())
    trunk_lines, trunk_levels = region_lines(
        region.rivers,
        interior,
        spec.seed,
        river=True,
        levels=region.river_levels,
        mouths=(region.mouth_line, region.mouth_arc),
    )
    main_lines, _ = region_lines(region.roads, interior, spec.seed, river=False)
    trunk = line_cells(trunk_lines, window) & ~sea & ~lake
    # A trunk river runs at its own level (falling downstream, from the coarse drainage),
    # whatever the finer relief it crosses: the chunk's water drains down into it.
    trunk_level = np.full(window.shape, np.inf)
    for (points, _, _), levels in zip(trunk_lines, trunk_levels, strict=True):
        c = np.floor(points[:, 0] - window.i0).astype(np.int64)
        r = np.floor(points[:, 1] - window.j0).astype(np.int64)
        ok = (c >= 0) & (c < window.width) & (r >= 0) & (r < window.height)
        np.minimum.at(trunk_level, (r[ok], c[ok]), levels[ok].astype(np.float64))
    flood_height = np.where(trunk, trunk_level, height).astype(np.float32)

    # Fine drainage into the sea, the lakes, the trunk rivers and the edge.
    edge = np.zeros(window.shape, bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    good = sea | lake | trunk
    surface, receiver, order = hydrology.priority_flood(flood_height, good | edge)
    catchment = hydrology.accumulate(receiver, order, (m_cell / 1000.0) ** 2)
    # Lakes of the chunk's own: deep hollows that do not reach its edge.
    flooded = (surface - height > 0.01) & ~good
    labels, count = ndimage.label(flooded)
    if count:
        index = np.arange(1, count + 1)
        sizes = ndimage.sum(np.ones_like(labels), labels, index=index)
        depths = np.asarray(ndimage.maximum(surface - height, labels, index=index))
        at_edge = np.zeros(count + 1, bool)
        at_edge[np.unique(labels[ndimage.binary_dilation(edge, iterations=2)])] = True
        keep = np.zeros(count + 1, bool)
        keep[1:] = (sizes >= hydrology.LAKE_MIN_CELLS) & (depths > hydrology.LAKE_MIN_DEPTH_M)
        keep &= ~at_edge
        own_lake = keep[labels]
        inner = level[1:-1, 1:-1]
        inner[own_lake] = surface[own_lake]
    else:
        own_lake = np.zeros(window.shape, bool)
    grown_level = ndimage.maximum_filter(level, size=3)[1:-1, 1:-1]
    inner = level[1:-1, 1:-1]
    water_level = np.where(np.isfinite(inner), inner, grown_level).astype(np.float32)

    # Where each cell's water ends: streams draining to the edge are dropped.
    # So are streams through a deep hollow that is no lake (it reaches the chunk's edge):
    # the filled surface there is not the ground, a stream would climb out of it.
    flat_fate = (good.ravel() | own_lake.ravel()).tolist()
    deep = (((surface - height) > hydrology.LAKE_MIN_DEPTH_M) & ~own_lake & ~good).ravel()
    targets = receiver.tolist()
    deep_list = deep.tolist()
    for cell in order.tolist():
        target = targets[cell]
        if target >= 0:
            flat_fate[cell] = flat_fate[target] and not deep_list[cell]
    flat_fate = np.asarray(flat_fate, bool)
    far = ndimage.distance_transform_cdt(~edge, metric="chessboard") >= EDGE_KEEP
    shown = np.where(flat_fate.reshape(window.shape) & far, catchment, 0.0).astype(np.float32)
    water = sea | lake | own_lake
    drainage = hydrology.Drainage(
        sea=sea | trunk,
        lake=(lake | own_lake).astype(np.int32),
        surface=surface.astype(np.float32),
        receiver=receiver,
        catchment_km2=shown,
        order=order,
    )
    from core.plan.plan import _join_confluences, _river_lines

    fine_rivers = _river_lines(spec, drainage, window, interior, m_mean)
    fine = [(*fine_rivers.line(i), fine_rivers.kinds[i]) for i in range(len(fine_rivers))]
    rivers = Polylines.from_lines(
        trunk_lines + _join_confluences(fine + trunk_lines, m_mean)[: len(fine)]
    )

    # Settlements: the region's cities here, towns and villages of the chunk's own.
    land = ~water
    gy, gx = np.gradient(height.astype(np.float64))
    slope = np.hypot(gx, gy) / m_cell
    river_cells = trunk | (shown >= hydrology.RIVER_KM2)
    near_water = ndimage.distance_transform_edt(~(river_cells | ~land))
    score = suitability(
        height, slope, np.exp(-near_water / 4.0), land & (water_level < height - 12.0)
    )
    box = (interior.i0, interior.j0, interior.i0 + interior.width, interior.j0 + interior.height)
    cities = [s for s in region.cities if interior.contains(np.array([s.x]), np.array([s.y]))[0]]
    settlements = list(cities)
    for s in place(spec.seed, window.i0, window.j0, score, box):
        if s.tier == "city":
            continue
        if any(np.hypot(s.x - o.x, s.y - o.y) < KEEP_AWAY[s.tier] for o in settlements):
            continue
        settlements.append(s)

    # Roads: towns and villages join the main roads (or the chunk's largest town) by the
    # cheapest path inside the chunk.
    u, v = x / (REGION_CELLS * 8), y / (REGION_CELLS * 8)
    wander = 0.6 + 0.8 * fractal_noise(u, v, 8.0, 3, spec.seed + 71)
    graph = roads.cost_graph(slope, ~sea, river_cells & land, lake | own_lake, wander)
    cols = window.width
    main_cells = line_cells(main_lines, window) & ~sea
    cells = roads.settlement_cells(settlements, window.i0, window.j0, cols)
    network = set(np.flatnonzero(main_cells.ravel()).tolist()) | {
        c for c, s in zip(cells, settlements, strict=True) if s.tier == "city"
    }
    edges: dict[tuple[int, int], str] = {}
    for tier, kind in (("town", roads.MAIN), ("village", roads.MINOR)):
        members = sorted(
            (c for c, s in zip(cells, settlements, strict=True) if s.tier == tier),
        )
        if not members:
            continue
        if not network:
            network = {members[0]}
        dist, pred, _ = dijkstra(
            graph, indices=sorted(network), min_only=True, return_predecessors=True
        )
        for cell in members:
            if not np.isfinite(dist[cell]) or dist[cell] <= 0:
                continue
            path = [cell]
            while pred[path[-1]] >= 0:
                path.append(int(pred[path[-1]]))
            for c0, c1 in itertools.pairwise(path):
                edges.setdefault((min(c0, c1), max(c0, c1)), kind)
        network |= {c for e in edges for c in e}
    from core.plan.plan import _farm_intensity, _road_lines

    local = _road_lines(spec, roads.chains(edges), window, interior, m_mean, set(cells))
    local_lines = [(*local.line(i), local.kinds[i]) for i in range(len(local))]
    road_lines = Polylines.from_lines(
        main_lines + _join_confluences(local_lines + main_lines, m_mean)[: len(local_lines)]
    )
    road_raster = main_cells.copy().ravel()
    for a, b in edges:
        road_raster[[a, b]] = True
    farm = _farm_intensity(road_raster.reshape(window.shape), settlements, window, slope, land)
    return PlanChunk(
        window=window,
        interior=interior,
        height=height,
        surface=surface.astype(np.float32),
        water_level=water_level,
        catchment_km2=catchment,
        farm=farm,
        rivers=rivers,
        roads=road_lines,
        settlements=settlements,
    )
