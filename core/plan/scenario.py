"""Scenario files: a GeoJSON FeatureCollection (WGS84) whose features override a world's
procedural plan where they are (DESIGN §4).

- Polygon / MultiPolygon with ``landcover``: one of ``LANDCOVERS``;
- LineString / MultiLineString with ``kind``: ``river``, ``stream``, ``road``, ``track``
  (optional ``width_m``);
- Point with ``kind``: ``city``, ``town``, ``village`` (optional ``name``, ``population``).

A file is read and checked whole before anything uses it: the first problem raises
``ScenarioError`` naming the feature (its index) and what is wrong. Its sha256 is part of
the world: the plan's cache key includes it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.classes import CLASSES
from core.plan.grid import lonlat_to_cell

LANDCOVERS = tuple(CLASSES)
LINE_WIDTH_M = {"river": 40.0, "stream": 6.0, "road": 9.0, "track": 4.0}
PLACE_KINDS = ("city", "town", "village")
POPULATION = {"city": 150_000, "town": 20_000, "village": 1_000}
_MAX_LAT = 85.0511287798066


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the feature and the fault."""


@dataclass(frozen=True)
class ScenarioArea:
    landcover: str
    rings: tuple[np.ndarray, ...]  # outer ring first, then holes; (N, 2) in cell units

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Even-odd point-in-polygon test over all rings (holes subtract)."""
        inside = np.zeros(np.shape(x), bool)
        for ring in self.rings:
            inside ^= _in_ring(ring, x, y)
        return inside

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        outer = self.rings[0]
        return (*outer.min(0).tolist(), *outer.max(0).tolist())


@dataclass(frozen=True)
class ScenarioLine:
    kind: str
    points: np.ndarray  # (N, 2) cell units
    width_m: float


@dataclass(frozen=True)
class ScenarioPlace:
    kind: str
    x: float
    y: float
    name: str | None
    population: int


@dataclass(frozen=True)
class Scenario:
    path: str
    sha256: str
    areas: tuple[ScenarioArea, ...]
    lines: tuple[ScenarioLine, ...]
    places: tuple[ScenarioPlace, ...]


def _in_ring(ring: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    inside = np.zeros(np.shape(x), bool)
    xs, ys = ring[:, 0], ring[:, 1]
    for i in range(len(ring) - 1):
        x0, y0, x1, y1 = xs[i], ys[i], xs[i + 1], ys[i + 1]
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def _position(value: Any, where: str) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) < 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value[:2])
    ):
        raise ScenarioError(f"{where}: a position must be [lon, lat] numbers, got {value!r}")
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ScenarioError(f"{where}: position {value!r} is not finite")
    if not (-180 <= lon <= 180 and -_MAX_LAT <= lat <= _MAX_LAT):
        raise ScenarioError(
            f"{where}: position {value!r} is outside lon -180..180 / lat ±{_MAX_LAT:.4f}"
        )
    return lonlat_to_cell(lon, lat)


def _positions(value: Any, where: str, minimum: int) -> np.ndarray:
    if not isinstance(value, list) or len(value) < minimum:
        raise ScenarioError(f"{where}: needs a list of at least {minimum} positions")
    return np.array([_position(p, f"{where}, position {i}") for i, p in enumerate(value)])


def _rings(value: Any, where: str) -> tuple[np.ndarray, ...]:
    if not isinstance(value, list) or not value:
        raise ScenarioError(f"{where}: a polygon needs at least one ring")
    rings = []
    for index, ring in enumerate(value):
        points = _positions(ring, f"{where}, ring {index}", 4)
        if not np.allclose(points[0], points[-1]):
            raise ScenarioError(f"{where}, ring {index}: not closed (first != last position)")
        rings.append(points)
    return tuple(rings)


def _feature(index: int, feature: Any, scenario: dict[str, list]) -> None:
    where = f"feature {index}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ScenarioError(f"{where}: not a GeoJSON Feature")
    geometry = feature.get("geometry")
    props = feature.get("properties") or {}
    if not isinstance(geometry, dict) or not isinstance(props, dict):
        raise ScenarioError(f"{where}: needs a geometry object and a properties object")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind in ("Polygon", "MultiPolygon"):
        landcover = props.get("landcover")
        if landcover not in LANDCOVERS:
            raise ScenarioError(
                f"{where}: landcover {landcover!r} is not one of {', '.join(LANDCOVERS)}"
            )
        polygons = [coords] if kind == "Polygon" else coords
        if not isinstance(polygons, list) or not polygons:
            raise ScenarioError(f"{where}: {kind} has no coordinates")
        for part, polygon in enumerate(polygons):
            label = where if kind == "Polygon" else f"{where}, polygon {part}"
            scenario["areas"].append(ScenarioArea(landcover, _rings(polygon, label)))
    elif kind in ("LineString", "MultiLineString"):
        line_kind = props.get("kind")
        if line_kind not in LINE_WIDTH_M:
            raise ScenarioError(
                f"{where}: kind {line_kind!r} is not one of {', '.join(LINE_WIDTH_M)}"
            )
        width = props.get("width_m", LINE_WIDTH_M[line_kind])
        if not isinstance(width, int | float) or isinstance(width, bool) or not 0 < width <= 3000:
            raise ScenarioError(f"{where}: width_m must be a number in (0, 3000], got {width!r}")
        lines = [coords] if kind == "LineString" else coords
        if not isinstance(lines, list) or not lines:
            raise ScenarioError(f"{where}: {kind} has no coordinates")
        for part, line in enumerate(lines):
            label = where if kind == "LineString" else f"{where}, line {part}"
            points = _positions(line, label, 2)
            scenario["lines"].append(ScenarioLine(line_kind, points, float(width)))
    elif kind == "Point":
        place = props.get("kind")
        if place not in PLACE_KINDS:
            raise ScenarioError(f"{where}: kind {place!r} is not one of {', '.join(PLACE_KINDS)}")
        name = props.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ScenarioError(f"{where}: name must be a non-empty string")
        population = props.get("population", POPULATION[place])
        if not isinstance(population, int) or isinstance(population, bool) or population <= 0:
            raise ScenarioError(f"{where}: population must be a positive integer")
        x, y = _position(coords, where)
        scenario["places"].append(ScenarioPlace(place, x, y, name, population))
    else:
        raise ScenarioError(
            f"{where}: geometry type {kind!r} is not Polygon, MultiPolygon, LineString, "
            "MultiLineString or Point"
        )


def load_scenario(path: Path) -> Scenario:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"scenario {path}: cannot read it: {exc}") from None
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario {path}: not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ScenarioError(f"scenario {path}: not a GeoJSON FeatureCollection")
    features = document.get("features")
    if not isinstance(features, list):
        raise ScenarioError(f"scenario {path}: its 'features' is not a list")
    parts: dict[str, list] = {"areas": [], "lines": [], "places": []}
    for index, feature in enumerate(features):
        try:
            _feature(index, feature, parts)
        except ScenarioError as exc:
            raise ScenarioError(f"scenario {path}: {exc}") from None
    return Scenario(
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        areas=tuple(parts["areas"]),
        lines=tuple(parts["lines"]),
        places=tuple(parts["places"]),
    )
