"""Water that obeys the relief: sea, drainage, lakes and river courses on the plan grid.

Priority flood (Barnes, Lehman & Mulla 2014) from the outlets (sea cells and the window's
edge) visits every land cell in order of its spill height; the cell it was reached from is
where its water goes, so every cell drains downhill on the filled surface to an outlet and
depressions become lakes whose surface is the spill height. Flow accumulation along those
receivers gives each cell its catchment; rivers are the cells above a catchment threshold.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Catchment (km^2) from which a watercourse shows as a stream, and as a river.
STREAM_KM2 = 25.0
RIVER_KM2 = 250.0
LAKE_MIN_DEPTH_M = 20.0
LAKE_MIN_CELLS = 5
_EPSILON_M = 1e-3  # the filled surface still falls towards the outlet across a lake

_NEIGHBOURS = ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1))


@dataclass
class Drainage:
    sea: np.ndarray  # bool (H, W)
    lake: np.ndarray  # int32 (H, W): lake id + 1, 0 = no lake
    surface: np.ndarray  # float32: filled elevation (water surface on lakes)
    receiver: np.ndarray  # int64 flat index of the downstream cell, -1 at outlets
    catchment_km2: np.ndarray  # float32 (H, W)
    order: np.ndarray  # int64 flat indices, upstream last (the flood order)


def sea_mask(height: np.ndarray) -> np.ndarray:
    """Cells below sea level connected to the window's edge (inland hollows are not sea)."""
    below = height < 0.0
    labels, _ = ndimage.label(below)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def priority_flood(
    height: np.ndarray, outlets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(surface, receiver, order) for every cell of ``height``; ``outlets`` drain nowhere."""
    rows, cols = height.shape
    flat = height.ravel().astype(np.float64)
    surface = flat.copy()
    receiver = np.full(flat.size, -1, np.int64)
    done = outlets.ravel().copy()
    heap = [(flat[i], int(i)) for i in np.flatnonzero(done)]
    heapq.heapify(heap)
    order: list[int] = []
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        level, index = pop(heap)
        order.append(index)
        r, c = divmod(index, cols)
        for dc, dr in _NEIGHBOURS:
            rr, cc = r + dr, c + dc
            if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                continue
            n = rr * cols + cc
            if done[n]:
                continue
            done[n] = True
            spill = max(flat[n], level + _EPSILON_M)
            surface[n] = spill
            receiver[n] = index
            push(heap, (spill, n))
    return surface.reshape(height.shape), receiver, np.asarray(order, np.int64)


def accumulate(receiver: np.ndarray, order: np.ndarray, cell_km2: np.ndarray) -> np.ndarray:
    """Catchment of each cell: its own area plus everything that drains through it."""
    area = cell_km2.ravel().astype(np.float64).copy()
    for index in order[::-1]:
        target = receiver[index]
        if target >= 0:
            area[target] += area[index]
    return area.reshape(cell_km2.shape).astype(np.float32)


def drain(
    height: np.ndarray, cell_km2: np.ndarray, extra_water: np.ndarray | None = None
) -> Drainage:
    """``extra_water``: cells that are water whatever the relief (a scenario's lakes); water
    drains into them like into the sea."""
    sea = sea_mask(height)
    outlets = sea.copy()
    if extra_water is not None:
        outlets |= extra_water
    outlets[0, :] = outlets[-1, :] = outlets[:, 0] = outlets[:, -1] = True
    surface, receiver, order = priority_flood(height, outlets)
    catchment = accumulate(receiver, order, cell_km2)
    # A lake is a whole flooded hollow (every cell below its spill level) that is deep
    # enough somewhere; its shallow rim is part of it, so its shore is a contour.
    flooded = (surface - height > 0.01) & ~sea
    if extra_water is not None:
        flooded &= ~extra_water
    labels, count = ndimage.label(flooded)
    index = np.arange(1, count + 1)
    sizes = ndimage.sum(np.ones_like(labels), labels, index=index)
    depths = ndimage.maximum(surface - height, labels, index=index)
    keep = np.zeros(count + 1, bool)
    keep[1:] = (sizes >= LAKE_MIN_CELLS) & (np.asarray(depths) > LAKE_MIN_DEPTH_M)
    lake = np.where(keep[labels], labels, 0).astype(np.int32)
    return Drainage(sea, lake, surface.astype(np.float32), receiver, catchment, order)


def river_courses(drainage: Drainage, min_km2: float = STREAM_KM2) -> list[list[int]]:
    """Watercourses as lists of flat cell indices, source first. Each ends where it meets
    the sea, a lake, a larger course (the confluence cell is its last vertex) or the edge."""
    catchment = drainage.catchment_km2.ravel()
    water = (drainage.sea | (drainage.lake > 0)).ravel()
    river = (catchment >= min_km2) & ~water
    receiver = drainage.receiver
    fed = np.zeros(river.size, bool)
    members = np.flatnonzero(river)
    targets = receiver[members]
    fed[targets[targets >= 0]] = True
    # Longest first: a trunk is traced whole, its tributaries stop where they join it.
    sources = members[~fed[members]]
    visited = np.zeros(river.size, bool)
    courses: list[list[int]] = []
    for source in sorted(sources.tolist(), key=lambda s: -float(drainage.surface.ravel()[s])):
        course = [source]
        visited[source] = True
        cell = source
        while True:
            nxt = int(receiver[cell])
            if nxt < 0:
                break
            course.append(nxt)
            if water[nxt] or visited[nxt]:
                break
            visited[nxt] = True
            cell = nxt
        if len(course) >= 2:
            courses.append(course)
    return courses
