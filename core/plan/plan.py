"""The world plan: a world's geography, built once per world (or per chunk) and cached.

A bounded world is planned in one window: its extent plus a margin. A world too large for
one window (up to the whole Web-Mercator plane) is planned in chunks of ``CHUNK_CELLS``
cells fixed on the global grid, each built from its own cells plus a margin of context and
keeping only what lies inside it, so a chunk is the same whichever was built first.

Everything in a plan is a function of the ``PlanSpec`` (seed, extent, coast) alone; its
``key`` names the cache file, so a changed world never reads another world's plan.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from scipy import ndimage

from core.noise import fractal_noise
from core.plan import hydrology, roads
from core.plan.grid import CELLS, CellWindow, metres_per_cell
from core.plan.lines import Polylines, chaikin, meander, meander_bends, resample
from core.plan.scenario import Scenario
from core.plan.settlements import Settlement, place, suitability
from core.plan.terrain import Terrain

# Bump when the planning changes what a plan holds: cached plans of other versions are
# never read, and worlds made with another version must name it (see core.world).
PLAN_VERSION = 1  # bump once a plan world has published tiles and planning changes
OPEN_PLAN_VERSION = 2  # open worlds: coarse regions, chunks refining them (core.plan.open)
# Bounded windows as version 1, with rivers and streams wound as sine-generated curves
# (core.plan.lines.meander_bends) on a slower sway, not sideways sines of one wavelength.
BENDS_PLAN_VERSION = 3
# Bump when open planning changes (no open world has published tiles yet): it is part of
# an open world's plan key, so cached regions and chunks of an earlier revision are never
# mixed with new ones. Bounded worlds' keys do not carry it.
OPEN_PLAN_REVISION = 2  # 2: trunk tributaries end on the river they join
MAX_WINDOW_CELLS = 1600  # a bounded world wider than this is planned in chunks
CHUNK_CELLS = 512
CHUNK_MARGIN = 96
BOUNDED_MARGIN = 16


@dataclass(frozen=True)
class PlanSpec:
    seed: int
    extent: tuple[float, float, float, float]  # x0, y0, x1, y1 in cell units
    island: bool
    scenario: Scenario | None = None
    # 1: bounded windows or independent chunks; 2: open world, coarse to fine (core.plan.open);
    # 3: as 1, rivers winding in loops (BENDS_PLAN_VERSION).
    version: int = PLAN_VERSION

    @property
    def key(self) -> str:
        fields = {
            "v": self.version,
            "seed": self.seed,
            "extent": list(self.extent),
            "island": self.island,
            "scenario": self.scenario.sha256 if self.scenario else None,
        }
        if self.version == OPEN_PLAN_VERSION:
            fields["rev"] = OPEN_PLAN_REVISION
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def chunked(self) -> bool:
        x0, y0, x1, y1 = self.extent
        return self.version == OPEN_PLAN_VERSION or max(x1 - x0, y1 - y0) > MAX_WINDOW_CELLS

    def terrain(self) -> Terrain:
        if self.version == OPEN_PLAN_VERSION:
            from core.plan.open import REGION_CELLS

            return Terrain(self.seed, None, REGION_CELLS)
        return Terrain(self.seed, self.extent if self.island else None)


@dataclass
class PlanChunk:
    """The plan of one window. Grids cover ``window``; features are those of ``interior``."""

    window: CellWindow
    interior: CellWindow
    height: np.ndarray  # float32 metres
    surface: np.ndarray  # float32: water surface / filled height
    water_level: np.ndarray  # float32: level of the sea (0) or a lake near a cell, else -inf
    catchment_km2: np.ndarray  # float32
    farm: np.ndarray  # float32 0..1: how farmed the land around a cell is
    rivers: Polylines
    roads: Polylines
    settlements: list[Settlement]

    def sample(self, grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear sample of a grid at positions in cell units (clamped to the window)."""
        fx = np.clip(x - self.window.i0 - 0.5, 0, self.window.width - 1.001)
        fy = np.clip(y - self.window.j0 - 0.5, 0, self.window.height - 1.001)
        c0, r0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
        tx, ty = fx - c0, fy - r0
        g = grid
        top = g[r0, c0] * (1 - tx) + g[r0, c0 + 1] * tx
        bottom = g[r0 + 1, c0] * (1 - tx) + g[r0 + 1, c0 + 1] * tx
        return top * (1 - ty) + bottom * ty

    def nearest(self, grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        c = np.clip(np.floor(x - self.window.i0).astype(np.int64), 0, self.window.width - 1)
        r = np.clip(np.floor(y - self.window.j0).astype(np.int64), 0, self.window.height - 1)
        return grid[r, c]

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "window": np.array(
                [self.window.i0, self.window.j0, self.window.width, self.window.height]
            ),
            "interior": np.array(
                [self.interior.i0, self.interior.j0, self.interior.width, self.interior.height]
            ),
            "height": self.height,
            "surface": self.surface,
            "water_level": self.water_level,
            "catchment_km2": self.catchment_km2,
            "farm": self.farm,
            "settlements": np.array(json.dumps([asdict(s) for s in self.settlements])),
            **self.rivers.to_arrays("rivers"),
            **self.roads.to_arrays("roads"),
        }

    def save(self, path: Path) -> None:
        save_arrays(path, self.arrays())

    @classmethod
    def load(cls, path: Path) -> PlanChunk:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        return cls(
            window=CellWindow(*(int(v) for v in arrays["window"])),
            interior=CellWindow(*(int(v) for v in arrays["interior"])),
            height=arrays["height"],
            surface=arrays["surface"],
            water_level=arrays["water_level"],
            catchment_km2=arrays["catchment_km2"],
            farm=arrays["farm"],
            settlements=[Settlement(**s) for s in json.loads(str(arrays["settlements"]))],
            rivers=Polylines.from_arrays(arrays, "rivers"),
            roads=Polylines.from_arrays(arrays, "roads"),
        )


def build_chunk(spec: PlanSpec, interior: CellWindow, margin: int) -> PlanChunk:
    window = interior.grown(margin)
    terrain = spec.terrain()
    x, y = window.centres()
    height = terrain.coarse(x, y).astype(np.float32)
    m_cell = np.asarray(metres_per_cell(y), np.float64)
    cell_km2 = (m_cell / 1000.0) ** 2
    scenario_water = _scenario_water(spec, x, y)
    drainage = hydrology.drain(height, cell_km2, scenario_water)
    land = ~drainage.sea & (drainage.lake == 0)
    if scenario_water is not None:
        land &= ~scenario_water

    # Water level near each cell: the coast and lake shores are then contours of the
    # fine relief (pixels below the level of the water next to them are water).
    level = np.full(height.shape, -np.inf, np.float32)
    level[drainage.sea] = 0.0
    lake_cells = drainage.lake > 0
    level[lake_cells] = drainage.surface[lake_cells]
    grown = ndimage.maximum_filter(level, size=3)
    water_level = np.where(np.isfinite(level), level, grown).astype(np.float32)

    gy, gx = np.gradient(height.astype(np.float64))
    slope = np.hypot(gx, gy) / m_cell
    m_mean = float(m_cell.mean())

    # Version 3 winds its rivers round the roads (below); the roads do not read them.
    winds = spec.version == BENDS_PLAN_VERSION
    rivers = None if winds else _river_lines(spec, drainage, window, interior, m_mean)

    river_cells = drainage.catchment_km2 >= hydrology.RIVER_KM2
    near_water = ndimage.distance_transform_edt(~(river_cells | ~land)) if land.any() else None
    water_near = (
        np.exp(-np.asarray(near_water) / 4.0) if near_water is not None else np.zeros_like(height)
    )
    # Not on a shore that the fine relief may put under water.
    score = suitability(height, slope, water_near, land & (water_level < height - 12.0))
    box = (
        interior.i0,
        interior.j0,
        interior.i0 + interior.width,
        interior.j0 + interior.height,
    )
    settlements = _with_scenario_places(
        spec, interior, place(spec.seed, window.i0, window.j0, score, box)
    )

    passable = ~drainage.sea
    u, v = x / CELLS, y / CELLS
    wander = 0.6 + 0.8 * fractal_noise(u, v, 8.0, 3, spec.seed + 71)
    lakes_for_roads = lake_cells if scenario_water is None else lake_cells | scenario_water
    graph = roads.cost_graph(slope, passable, river_cells & land, lakes_for_roads, wander)
    cols = window.width
    cells = roads.settlement_cells(settlements, window.i0, window.j0, cols)
    edges = roads.road_edges(graph, cells, [s.tier for s in settlements])
    road_lines = _road_lines(spec, roads.chains(edges), window, interior, m_mean, set(cells))
    if rivers is None:
        rivers = _river_lines(spec, drainage, window, interior, m_mean, road_lines)
    if spec.scenario is not None:
        rivers, road_lines = _with_scenario_lines(spec.scenario, interior, rivers, road_lines)

    road_raster = np.zeros(height.size, bool)
    for a, b in edges:
        road_raster[[a, b]] = True
    road_raster = road_raster.reshape(height.shape)
    farm = _farm_intensity(road_raster, settlements, window, slope, land)
    return PlanChunk(
        window=window,
        interior=interior,
        height=height,
        surface=drainage.surface,
        water_level=water_level,
        catchment_km2=drainage.catchment_km2,
        farm=farm,
        rivers=rivers,
        roads=road_lines,
        settlements=settlements,
    )


# A scenario's place clears procedural settlements this near it (cells).
SCENARIO_CLEARANCE = {"city": 30.0, "town": 12.0, "village": 4.0}
SCENARIO_ROAD_KIND = {"road": roads.MAIN, "track": roads.TRACK}


def _scenario_water(spec: PlanSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    if spec.scenario is None:
        return None
    water = np.zeros(x.shape, bool)
    for area in spec.scenario.areas:
        if area.landcover == "water":
            water |= area.contains(x, y)
    return water if water.any() else None


def _with_scenario_places(
    spec: PlanSpec, interior: CellWindow, settlements: list[Settlement]
) -> list[Settlement]:
    """The scenario's places replace the procedural settlements around them."""
    if spec.scenario is None or not spec.scenario.places:
        return settlements
    from core.plan.settlements import settlement_name

    placed = []
    for index, p in enumerate(spec.scenario.places):
        if not interior.contains(np.array([p.x]), np.array([p.y]))[0]:
            continue
        name = p.name or settlement_name(spec.seed + 5, 7_000_000 + index)
        placed.append(Settlement(p.x, p.y, p.kind, p.population, name))
    kept = [
        s
        for s in settlements
        if all(
            np.hypot(s.x - p.x, s.y - p.y) >= SCENARIO_CLEARANCE[p.kind]
            for p in spec.scenario.places
        )
    ]
    return placed + kept


def _with_scenario_lines(
    scenario: Scenario, interior: CellWindow, rivers: Polylines, road_lines: Polylines
) -> tuple[Polylines, Polylines]:
    """The scenario's rivers, streams, roads and tracks, drawn as the file gives them."""
    extra_rivers, extra_roads = [], []
    for line in scenario.lines:
        if not interior.contains(line.points[:, 0], line.points[:, 1]).any():
            continue
        widths = np.full(len(line.points), line.width_m, np.float32)
        if line.kind in ("river", "stream"):
            extra_rivers.append((line.points, widths, line.kind))
        else:
            extra_roads.append((line.points, widths, SCENARIO_ROAD_KIND[line.kind]))
    rivers = Polylines.from_lines(
        [(*rivers.line(i), rivers.kinds[i]) for i in range(len(rivers))] + extra_rivers
    )
    road_lines = Polylines.from_lines(
        [(*road_lines.line(i), road_lines.kinds[i]) for i in range(len(road_lines))] + extra_roads
    )
    return rivers, road_lines


def _xy(window: CellWindow, flat: list[int]) -> np.ndarray:
    rows, cols = np.divmod(np.asarray(flat), window.width)
    return np.stack([window.i0 + cols + 0.5, window.j0 + rows + 0.5], 1).astype(np.float64)


def _river_lines(
    spec: PlanSpec,
    drainage: hydrology.Drainage,
    window: CellWindow,
    interior: CellWindow,
    m_cell: float,
    road_lines: Polylines | None = None,
) -> Polylines:
    """The window's watercourses as polylines; ``road_lines`` (plan version 3) are what
    their loops keep clear of."""
    room = _RoadRoom(road_lines, m_cell) if road_lines is not None else None
    catchment = drainage.catchment_km2.ravel()
    lines = []
    for course in hydrology.river_courses(drainage):
        points = _xy(window, course)
        area = catchment[course].astype(np.float64)
        # The last cell is where this course meets water or a larger course: it keeps its
        # own width there, not the trunk's.
        area[-1] = area[-2]
        # Width from catchment (hydraulic geometry: w ~ Q^0.5, Q ~ area).
        width = np.clip(1.6 * area**0.55, 3.0, 900.0)
        # Split where a stream becomes a river, so each piece has one kind.
        big = area >= hydrology.RIVER_KM2
        cut = int(np.argmax(big)) if big.any() else len(course)
        pieces = []
        if cut > 0:
            pieces.append((points[: cut + 1], width[: cut + 1], "stream"))
        if cut < len(course) - 1:
            pieces.append((points[cut:], width[cut:], "river"))
        for pts, w, kind in pieces:
            if len(pts) < 2:
                continue
            pts, w = chaikin(pts, w, 2)
            if spec.version == BENDS_PLAN_VERSION:
                pts, w = _wind(pts, w, m_cell, spec.seed, kind, room)
            else:
                pts, w = meander(pts, w, m_cell, spec.seed + 61, 11.0, 250.0, 0.3, spacing_m=40.0)
            keep = interior.contains(pts[:, 0], pts[:, 1])
            if keep.any():
                lines.append((pts, w.astype(np.float32), kind))
    return Polylines.from_lines(_join_confluences(lines, m_cell))


WIND_BELT_CELLS = 0.4  # how far a version-3 river's loops swing from its course
ROAD_CLEARANCE_M = 25.0  # what a loop keeps between its bank and a road beside it
WIND_SPACING_M = 40.0  # vertex spacing of a version-3 river


def _wind(
    points: np.ndarray,
    widths: np.ndarray,
    m_cell: float,
    seed: int,
    kind: str,
    room: _RoadRoom | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Plan version 3's river course: the valley's slow sway (sideways sines of several
    kilometres), then the channel's own loops on it, about 15 widths of channel per bend
    (a meander wavelength of 10-14 widths along the valley), clear of the roads. Streams
    swing less: many run down slopes, where channels wind little."""
    points, widths = meander(points, widths, m_cell, seed + 61, 44.0, 1000.0, 0.3, spacing_m=40.0)
    swing = (25.0, 110.0) if kind == "river" else (10.0, 55.0)
    beside = None if room is None else room.for_channel(float(widths.max()))
    return meander_bends(
        points,
        widths,
        m_cell,
        seed + 71,
        15.0,
        250.0,
        WIND_BELT_CELLS,
        spacing_m=WIND_SPACING_M,
        swing_deg=swing,
        room=beside,
    )


class _RoadRoom:
    """How far a river's loops may swing on either side before they reach a road: a
    road in the valley beside a river keeps it on its own side (the plan's roads do not
    ford a river every few hundred metres), and where a road crosses the river runs
    straight under the bridge."""

    STEPS = 10  # probes across the belt, on each side

    def __init__(self, road_lines: Polylines, m_cell: float) -> None:
        from scipy.spatial import cKDTree

        self.m_cell = m_cell
        self.vertices = road_lines.vertices
        self.tree = cKDTree(self.vertices) if len(self.vertices) else None

    def for_channel(
        self, width_m: float
    ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        # Road vertices lie ~60 m apart: a probe within half of that of the line is near one.
        clear = (width_m / 2 + ROAD_CLEARANCE_M + 30.0) / self.m_cell

        def room(course: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if self.tree is None:
                full = np.full(len(course), WIND_BELT_CELLS)
                return full, full
            step = WIND_BELT_CELLS / self.STEPS
            sides = []
            for sign in (1.0, -1.0):
                free = np.full(len(course), WIND_BELT_CELLS)
                for k in range(self.STEPS, -1, -1):  # nearest blocked probe wins
                    probe = course + sign * k * step * normal
                    distance, index = self.tree.query(probe, distance_upper_bound=clear)
                    near = distance < clear
                    # Only a road on this side (or on the course itself) blocks it.
                    road = self.vertices[np.minimum(index, len(self.vertices) - 1)]
                    across = ((road - course) * normal).sum(1) * sign
                    near &= across > -clear
                    free[near] = max(k - 1, 0) * step
                # A loop reaches along the course as well as across it: the room of a
                # stretch is the least within ~250 m, eased in over as much again.
                span = max(1, round(250.0 / WIND_SPACING_M))
                free = ndimage.minimum_filter1d(free, 2 * span + 1, mode="nearest")
                sides.append(ndimage.gaussian_filter1d(free, span, mode="nearest"))
            return sides[0], sides[1]

        return room


def _join_confluences(
    lines: list[tuple[np.ndarray, np.ndarray, str]], m_cell: float
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Move each tributary's mouth onto the course it joins (the trunk meanders away from
    the confluence cell's centre), bending its last ~600 m so the join is smooth."""
    if not lines:
        return lines
    vertices = np.vstack([points for points, _, _ in lines])
    owner = np.concatenate([np.full(len(p), i) for i, (p, _, _) in enumerate(lines)])
    starts = {tuple(np.round(p[0], 9)) for p, _, _ in lines}
    joined = []
    for index, (points, widths, kind) in enumerate(lines):
        end = points[-1]
        # A piece that continues into the next piece of its own course is already joined.
        if tuple(np.round(end, 9)) in starts:
            joined.append((points, widths, kind))
            continue
        other = owner != index
        distance = np.hypot(*(vertices[other] - end).T)
        nearest = int(np.argmin(distance)) if distance.size else -1
        if nearest < 0 or distance[nearest] > 0.6:
            joined.append((points, widths, kind))
            continue
        delta = vertices[other][nearest] - end
        steps = np.hypot(*np.diff(points, axis=0).T)
        from_end = np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])
        ramp = np.clip(1.0 - from_end / (600.0 / m_cell), 0.0, 1.0) ** 2
        joined.append((points + ramp[:, None] * delta, widths, kind))
    return joined


ROAD_WIDTH_M = {roads.MAIN: 9.0, roads.MINOR: 6.0, roads.TRACK: 4.0}


def _road_lines(
    spec: PlanSpec,
    chains: list[tuple[list[int], str]],
    window: CellWindow,
    interior: CellWindow,
    m_cell: float,
    settlement_cells: set[int],
) -> Polylines:
    lines = []
    for chain, kind in chains:
        # Roads pass through the settlements they serve: those vertices stay put.
        pinned = [i for i, cell in enumerate(chain) if cell in settlement_cells]
        points = _soften(_xy(window, chain), pinned)
        width = np.full(len(points), ROAD_WIDTH_M[kind])
        points, width = chaikin(points, width, 2)
        points, width = meander(
            points, width, m_cell, spec.seed + 67, 300.0, 2500.0, 0.12, spacing_m=60.0
        )
        if interior.contains(points[:, 0], points[:, 1]).any():
            lines.append((points, width.astype(np.float32), kind))
    return Polylines.from_lines(lines)


def _soften(
    points: np.ndarray, pinned: list[int] | None = None, sigma_cells: float = 1.6
) -> np.ndarray:
    """Smooth a grid path into curves: paths on an 8-neighbour grid run at multiples of
    45 degrees, roads do not. End points (junctions stay joined) and the ``pinned``
    vertices stay put; the smoothing fades in over ~2 sigma around them."""
    if len(points) < 4:
        return points
    steps = np.hypot(*np.diff(points, axis=0).T)
    vertex_arc = np.concatenate([[0.0], np.cumsum(steps)])
    dense, _, arc = resample(points, np.zeros(len(points)), 0.5)
    smooth = ndimage.gaussian_filter1d(dense, sigma_cells / 0.5, axis=0, mode="nearest")
    anchors = np.concatenate([[0.0, arc[-1]], vertex_arc[pinned or []]])
    nearest = np.abs(arc[:, None] - anchors[None, :]).min(1)
    pin = np.clip(nearest / (2 * sigma_cells), 0.0, 1.0)[:, None]
    return dense * (1 - pin) + smooth * pin


def _farm_intensity(
    road_raster: np.ndarray,
    settlements: list[Settlement],
    window: CellWindow,
    slope: np.ndarray,
    land: np.ndarray,
) -> np.ndarray:
    """How farmed the land is: high near roads and settlements, on gentle slopes."""
    d_road = ndimage.distance_transform_edt(~road_raster) if road_raster.any() else np.inf
    near = np.exp(-np.asarray(d_road) / 5.0) * 0.8
    for tier, reach in (("city", 14.0), ("town", 9.0), ("village", 3.5)):
        mask = np.zeros(window.shape, bool)
        for s in settlements:
            if s.tier == tier:
                r, c = int(s.y) - window.j0, int(s.x) - window.i0
                if 0 <= r < window.height and 0 <= c < window.width:
                    mask[r, c] = True
        if mask.any():
            near = np.maximum(near, np.exp(-ndimage.distance_transform_edt(~mask) / reach))
    flat = np.clip(1.0 - slope / 0.12, 0.0, 1.0)
    return (near * flat * land).astype(np.float32)


class WorldPlan:
    """A world's plan: its chunks (and, for an open world, its regions), built on first use
    and cached in memory (an LRU of ``max_chunks`` chunks), on disk (one ``.npz`` each,
    written atomically; built once across processes: a file lock) and, with a ``shared``
    store (an S3 deployment), in the store's object space for every machine."""

    def __init__(
        self,
        spec: PlanSpec,
        cache_dir: Path | None = None,
        max_chunks: int = 16,
        shared: Any = None,
    ) -> None:
        self.spec = spec
        self.cache_dir = cache_dir
        self.terrain = spec.terrain()
        self.max_chunks = max(1, max_chunks)
        self.shared = shared  # a core.store.TileStore, or None
        self._chunks: OrderedDict[tuple[int, int], PlanChunk] = OrderedDict()
        self._regions: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}
        self.built: list[str] = []  # cache names this process built (tests, benchmarks)

    def chunk_keys(self, x0: float, y0: float, x1: float, y1: float) -> list[tuple[int, int]]:
        if not self.spec.chunked:
            return [(0, 0)]
        ci0, cj0 = math.floor(x0 / CHUNK_CELLS), math.floor(y0 / CHUNK_CELLS)
        ci1, cj1 = math.floor(x1 / CHUNK_CELLS), math.floor(y1 / CHUNK_CELLS)
        return [
            (ci, cj)
            for cj in range(max(cj0, 0), min(cj1, CELLS // CHUNK_CELLS - 1) + 1)
            for ci in range(max(ci0, 0), min(ci1, CELLS // CHUNK_CELLS - 1) + 1)
        ]

    def chunk(self, key: tuple[int, int]) -> PlanChunk:
        return self._memo(self._chunks, key, self.max_chunks, lambda: self._load_or_build(key))

    def region(self, key: tuple[int, int]) -> Any:
        """An open world's coarse region (core.plan.open.Region)."""
        return self._memo(self._regions, key, 2, lambda: self._load_or_build_region(key))

    def _memo(self, table: OrderedDict, key: tuple[int, int], size: int, make) -> Any:
        with self._lock:
            found = table.get(key)
            if found is not None:
                table.move_to_end(key)
                return found
            building = self._building.setdefault(f"{id(table)}-{key}", threading.Lock())
        with building:  # one thread of this process builds it, the others wait
            with self._lock:
                found = table.get(key)
            if found is None:
                found = make()
                with self._lock:
                    table[key] = found
                    while len(table) > size:
                        table.popitem(last=False)
            return found

    def chunks_in(self, x0: float, y0: float, x1: float, y1: float) -> list[PlanChunk]:
        return [self.chunk(key) for key in self.chunk_keys(x0, y0, x1, y1)]

    def _interior(self, key: tuple[int, int]) -> tuple[CellWindow, int]:
        if not self.spec.chunked:
            x0, y0, x1, y1 = self.spec.extent
            i0, j0 = math.floor(x0), math.floor(y0)
            i1, j1 = math.ceil(x1), math.ceil(y1)
            return CellWindow(i0, j0, i1 - i0, j1 - j0), BOUNDED_MARGIN
        ci, cj = key
        return CellWindow(
            ci * CHUNK_CELLS, cj * CHUNK_CELLS, CHUNK_CELLS, CHUNK_CELLS
        ), CHUNK_MARGIN

    def _load_or_build(self, key: tuple[int, int]) -> PlanChunk:
        interior, margin = self._interior(key)
        if self.spec.version == OPEN_PLAN_VERSION:
            from core.plan.open import build_open_chunk, region_key

            def build() -> PlanChunk:
                region = self.region(region_key(interior.i0, interior.j0))
                return build_open_chunk(self.spec, interior, region)
        else:

            def build() -> PlanChunk:
                return build_chunk(self.spec, interior, margin)

        name = f"plan-{self.spec.key}-{key[0]}-{key[1]}.npz"
        return self._cached(name, build, PlanChunk.load, PlanChunk.arrays)

    def _load_or_build_region(self, key: tuple[int, int]) -> Any:
        from core.plan.open import Region, build_region

        name = f"region-{self.spec.key}-{key[0]}-{key[1]}.npz"
        return self._cached(
            name,
            lambda: build_region(self.spec.seed, self.terrain, key),
            Region.load,
            Region.arrays,
        )

    def _cached(self, name: str, build, load, arrays_of) -> Any:
        """Memory aside: the local cache file, else the shared store's copy, else build it
        under a lock that every process of this machine honours (the first builds, the
        others wait and read its file)."""
        if self.cache_dir is None:
            self.built.append(name)
            return build()
        path = self.cache_dir / name
        found = _read(path, load)
        if found is not None:
            return found
        try:
            lock = _lock(path)
        except OSError:  # the cache is not writable: build without it (costs time only)
            self.built.append(name)
            return build()
        with lock:  # closing the file releases the lock
            found = _read(path, load) or self._fetch_shared(name, path, load)
            if found is not None:
                return found
            made = build()
            self.built.append(name)
            with contextlib.suppress(OSError):
                save_arrays(path, arrays_of(made))
                self._share(name, path)
            return made

    def _fetch_shared(self, name: str, path: Path, load) -> Any:
        if self.shared is None:
            return None
        try:
            opened = self.shared.open_file(f"plans/{name}")
            if opened is None:
                return None
            stream, _ = opened
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".plan-", suffix=".npz")
            with os.fdopen(fd, "wb") as out, stream:
                shutil.copyfileobj(stream, out, 1 << 20)
            os.replace(tmp, path)
        except Exception:  # an unreachable store only costs a build
            return None
        return _read(path, load)

    def _share(self, name: str, path: Path) -> None:
        if self.shared is not None:
            with contextlib.suppress(Exception):
                self.shared.put_file(f"plans/{name}", path)

    def build_all(self) -> list[PlanChunk]:
        """Every chunk of the extent (for a bounded world: its one window)."""
        return self.chunks_in(*self.spec.extent)


def _read(path: Path, load) -> Any:
    if not path.exists():
        return None
    try:
        return load(path)
    except (OSError, ValueError, KeyError, EOFError):
        return None  # a damaged cache file is rebuilt


def _lock(path: Path) -> BinaryIO:
    """An open lock file beside ``path``, exclusively locked (flock: every process of this
    machine waits for it; the lock goes with the file when it is closed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError:
        handle.close()
        raise
    return handle


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a compressed ``.npz`` atomically: a temporary file renamed into place, so a
    reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".plan-", suffix=".npz")
    os.close(fd)
    try:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        os.replace(tmp, path)  # same content whoever writes it: replacing is harmless
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
