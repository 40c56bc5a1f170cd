"""The plan as GeoJSON for exercise planners: roads, rivers, lakes, bridges and named
settlements inside a bbox, in WGS84, drawn from the very polylines the imagery is drawn
from (so a road in the GeoJSON lies on the road in the tiles)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from core.plan.grid import cell_to_lonlat, lonlat_to_cell, metres_per_cell
from core.plan.lines import Polylines
from core.plan.plan import WorldPlan
from core.plan.settlements import settlement_name

Bbox = tuple[float, float, float, float]


class TooManyFeatures(ValueError):
    """The bbox holds more features than one answer may carry."""


def _coords(points: np.ndarray) -> list[list[float]]:
    lon, lat = cell_to_lonlat(points[:, 0], points[:, 1])
    return np.round(np.stack([lon, lat], 1), 7).tolist()


def _runs_inside(points: np.ndarray, box: tuple[float, float, float, float]) -> list[np.ndarray]:
    """Pieces of a line inside the box, each with one vertex beyond either end (so a
    piece reaches the box's edge)."""
    x0, y0, x1, y1 = box
    inside = (
        (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    )
    if not inside.any():
        return []
    grown = inside.copy()
    grown[1:] |= inside[:-1]
    grown[:-1] |= inside[1:]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], grown.astype(np.int8), [0]])))
    return [points[a:b] for a, b in zip(edges[0::2], edges[1::2], strict=True) if b - a >= 2]


def _line_features(lines: Polylines, box, properties) -> list[dict[str, Any]]:
    features = []
    for index in np.flatnonzero(lines.in_box(*box)):
        points, widths = lines.line(index)
        for piece in _runs_inside(points, box):
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": _coords(piece)},
                    "properties": properties(lines.kinds[index], float(widths.max())),
                }
            )
    return features


def _bridges(roads: Polylines, rivers: Polylines, box) -> list[np.ndarray]:
    """Points where a road crosses a river (not a stream: those are culverts and fords)."""
    found: list[np.ndarray] = []
    road_a, road_b, _, _ = roads.subset(roads.in_box(*box)).segments_points()
    river_lines = rivers.subset(
        rivers.in_box(*box) & np.array([k == "river" for k in rivers.kinds], bool)
    )
    river_a, river_b, _, _ = river_lines.segments_points()
    if not len(road_a) or not len(river_a):
        return found
    for start in range(0, len(road_a), 2048):
        p, r = (
            road_a[start : start + 2048, None, :],
            (road_b - road_a)[start : start + 2048, None, :],
        )
        q, s = river_a[None], (river_b - river_a)[None]
        denom = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
        qp = q - p
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / denom
            u = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / denom
        hit = (denom != 0) & (t >= 0) & (t < 1) & (u >= 0) & (u < 1)
        rows, cols = np.nonzero(hit)
        if rows.size:
            points = p[rows, 0] + t[rows, cols, None] * r[rows, 0]
            x0, y0, x1, y1 = box
            inside = (
                (points[:, 0] >= x0)
                & (points[:, 0] <= x1)
                & (points[:, 1] >= y0)
                & (points[:, 1] <= y1)
            )
            found.append(points[inside])
    return found


def plan_features(plan: WorldPlan, bbox: Bbox, max_features: int = 20_000) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the plan inside ``bbox`` (west, south, east, north)."""
    west, south, east, north = bbox
    x0, y0 = lonlat_to_cell(west, north)
    x1, y1 = lonlat_to_cell(east, south)
    box = (x0, y0, x1, y1)
    features: list[dict[str, Any]] = []
    for chunk in plan.chunks_in(x0, y0, x1, y1):
        features += _line_features(
            chunk.roads,
            box,
            lambda kind, width: {"kind": "road", "class": kind, "width_m": round(width, 1)},
        )
        features += _line_features(
            chunk.rivers, box, lambda kind, width: {"kind": kind, "width_m": round(width, 1)}
        )
        for points in _bridges(chunk.roads, chunk.rivers, box):
            for point in points:
                lon, lat = cell_to_lonlat(point[:1], point[1:])
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Point",
                            "coordinates": [round(float(lon[0]), 7), round(float(lat[0]), 7)],
                        },
                        "properties": {"kind": "bridge"},
                    }
                )
        features += _lakes(plan, chunk, box)
        for s in chunk.settlements:
            if x0 <= s.x <= x1 and y0 <= s.y <= y1:
                lon, lat = cell_to_lonlat(np.array([s.x]), np.array([s.y]))
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Point",
                            "coordinates": [round(float(lon[0]), 7), round(float(lat[0]), 7)],
                        },
                        "properties": {
                            "kind": s.tier,
                            "name": s.name,
                            "population": s.population,
                        },
                    }
                )
        if len(features) > max_features:
            raise TooManyFeatures(
                f"the bbox holds more than {max_features} features; ask for a smaller bbox"
            )
    return {"type": "FeatureCollection", "bbox": list(bbox), "features": features}


def _lakes(plan: WorldPlan, chunk, box) -> list[dict[str, Any]]:
    """Lakes as points (their centre) with surface level and area."""
    level = chunk.water_level
    lake = np.isfinite(level) & (level != 0.0) & (chunk.surface - chunk.height > 0.01)
    labels, count = ndimage.label(lake)
    if count == 0:
        return []
    index = np.arange(1, count + 1)
    centres = ndimage.center_of_mass(lake, labels, index)
    sizes = ndimage.sum(lake, labels, index)
    x0, y0, x1, y1 = box
    out = []
    for (row, col), size, lake_id in zip(centres, sizes, index, strict=True):
        x, y = chunk.window.i0 + col + 0.5, chunk.window.j0 + row + 0.5
        if (
            not (x0 <= x <= x1 and y0 <= y <= y1)
            or not chunk.interior.contains(np.array([x]), np.array([y]))[0]
        ):
            continue
        # The lake's deepest cell names it: a stable key whatever the labelling order.
        cells = np.argwhere(labels == lake_id)
        deepest = cells[np.argmax((chunk.surface - chunk.height)[labels == lake_id])]
        key = (chunk.window.i0 + int(deepest[1])) * 65_537 + chunk.window.j0 + int(deepest[0])
        area = float(size) * float(metres_per_cell(y)) ** 2 / 1e6
        lon, lat = cell_to_lonlat(np.array([x]), np.array([y]))
        out.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(float(lon[0]), 7), round(float(lat[0]), 7)],
                },
                "properties": {
                    "kind": "lake",
                    "name": f"Lake {settlement_name(plan.spec.seed + 17, key)}",
                    "area_km2": round(area, 1),
                    "surface_m": round(float(chunk.surface[int(deepest[0]), int(deepest[1])]), 1),
                },
            }
        )
    return out
