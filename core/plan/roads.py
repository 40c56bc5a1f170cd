"""The road network: least-cost paths over the relief linking the settlements (DESIGN §4).

Moving costs distance, more on slopes (roads follow valleys and contours), a premium to
cross a river (a bridge) and a lot across a lake; the sea cannot be crossed. Cities and
towns are joined along the relative neighbourhood graph of their path costs (it contains
the minimum spanning tree, so every town reaches every other on its landmass, plus the
loops real networks have); each village is joined to the nearest point of that network by
a minor road. Paths that share cells merge into one road.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from core.plan.settlements import Settlement

_MOVES = ((1, 0), (0, 1), (1, 1), (1, -1))
BRIDGE_COST_CELLS = 6.0
LAKE_FACTOR = 40.0
MAIN, MINOR, TRACK = "main", "minor", "track"  # tracks come from scenarios


def cost_graph(
    slope: np.ndarray,
    passable: np.ndarray,
    river: np.ndarray,
    lake: np.ndarray,
    wander: np.ndarray,
) -> csr_matrix:
    """Directed 8-neighbour graph of the window's cells; weights in cell lengths.
    ``wander`` (about 0.7..1.3) stands for everything a plan does not model (soil, owners,
    history), so roads on open plains curve instead of running in grid-straight lines."""
    rows, cols = slope.shape
    factor = (1.0 + 30.0 * slope + 600.0 * slope**2) * wander
    factor = np.where(lake, LAKE_FACTOR, factor)
    index = np.arange(rows * cols).reshape(rows, cols)
    sources, targets, weights = [], [], []
    for dc, dr in _MOVES:
        r0, r1 = max(0, -dr), rows - max(0, dr)
        c0, c1 = max(0, -dc), cols - max(0, dc)
        a = index[r0:r1, c0:c1]
        b = index[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        ok = passable[r0:r1, c0:c1] & passable[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        length = float(np.hypot(dr, dc))
        fa = factor[r0:r1, c0:c1]
        fb = factor[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        w = length * 0.5 * (fa + fb)
        ra = river[r0:r1, c0:c1]
        rb = river[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        w_ab = w + BRIDGE_COST_CELLS * (rb & ~ra)
        w_ba = w + BRIDGE_COST_CELLS * (ra & ~rb)
        sources += [a[ok], b[ok]]
        targets += [b[ok], a[ok]]
        weights += [w_ab[ok], w_ba[ok]]
    n = rows * cols
    return csr_matrix(
        (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))),
        shape=(n, n),
    )


def _path(predecessors: np.ndarray, target: int) -> list[int]:
    path = [target]
    while predecessors[path[-1]] >= 0:
        path.append(int(predecessors[path[-1]]))
    return path


def relative_neighbourhood(cost: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (a, b) with no c closer to both than they are to each other."""
    n = len(cost)
    pairs = []
    for a in range(n):
        for b in range(a + 1, n):
            d = cost[a, b]
            if not np.isfinite(d):
                continue
            others = np.maximum(cost[a], cost[b])
            others[[a, b]] = np.inf
            if not (others < d).any():
                pairs.append((a, b))
    return pairs


def road_edges(
    graph: csr_matrix,
    cell_of: list[int],
    tiers: list[str],
) -> dict[tuple[int, int], str]:
    """Undirected cell edges of the network, each with its road class."""
    edges: dict[tuple[int, int], str] = {}

    def add(path: list[int], kind: str) -> None:
        for a, b in itertools.pairwise(path):
            key = (min(a, b), max(a, b))
            if edges.get(key) != MAIN:
                edges[key] = kind

    hubs = [i for i, t in enumerate(tiers) if t != "village"]
    if len(hubs) >= 2:
        hub_cells = [cell_of[i] for i in hubs]
        dist, pred = dijkstra(graph, indices=hub_cells, return_predecessors=True)
        cost = dist[:, hub_cells]
        cost = np.minimum(cost, cost.T)
        for a, b in relative_neighbourhood(cost):
            add(_path(pred[a], hub_cells[b]), MAIN)
    villages = [cell_of[i] for i, t in enumerate(tiers) if t == "village"]
    network = sorted({c for edge in edges for c in edge} | {cell_of[i] for i in hubs})
    if villages and network:
        dist, pred, _ = dijkstra(graph, indices=network, min_only=True, return_predecessors=True)
        for cell in villages:
            if np.isfinite(dist[cell]) and dist[cell] > 0:
                add(_path(pred, cell), MINOR)
    return edges


def chains(edges: dict[tuple[int, int], str]) -> list[tuple[list[int], str]]:
    """Split the edge set into polylines between junctions and ends, one class each."""
    neighbours: dict[int, list[int]] = {}
    for a, b in sorted(edges):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)

    def kind(a: int, b: int) -> str:
        return edges[(min(a, b), max(a, b))]

    used: set[tuple[int, int]] = set()
    out: list[tuple[list[int], str]] = []

    # Start at every node that is not a plain pass-through (a junction, an end, a class
    # change), then any cycles that are left.
    def is_stop(node: int) -> bool:
        adj = neighbours[node]
        return len(adj) != 2 or kind(node, adj[0]) != kind(node, adj[1])

    starts = [n for n in sorted(neighbours) if is_stop(n)] + sorted(neighbours)
    for start in starts:
        for nxt in neighbours[start]:
            key = (min(start, nxt), max(start, nxt))
            if key in used:
                continue
            road_kind = kind(start, nxt)
            chain = [start, nxt]
            used.add(key)
            while not is_stop(chain[-1]):
                a = chain[-1]
                b = next(n for n in neighbours[a] if n != chain[-2])
                key = (min(a, b), max(a, b))
                if key in used:
                    break
                used.add(key)
                chain.append(b)
            out.append((chain, road_kind))
    return out


def settlement_cells(settlements: list[Settlement], i0: int, j0: int, cols: int) -> list[int]:
    return [(int(s.y) - j0) * cols + (int(s.x) - i0) for s in settlements]
