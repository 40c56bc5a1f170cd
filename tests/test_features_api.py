"""GET /worlds/{world}/features.geojson against a real API process: filtering, limits,
errors, and alignment with the tiles."""

from __future__ import annotations

import io
import math

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.stack import Stack

pytestmark = pytest.mark.integration  # talks to the real Redis

WORLD = "planland"
WHOLE = "10.0,-2.0,11.5,-0.5"


def _get(stack: Stack, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{stack.base_url}{path}", params=params, timeout=120)


@pytest.fixture(scope="module")
def whole(stack: Stack) -> dict:
    response = _get(stack, f"/worlds/{WORLD}/features.geojson", bbox=WHOLE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    return response.json()


def _kinds(collection: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for feature in collection["features"]:
        kind = feature["properties"]["kind"]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def test_the_whole_island_has_roads_rivers_lakes_and_named_places(whole: dict) -> None:
    assert whole["type"] == "FeatureCollection"
    kinds = _kinds(whole)
    for kind in ("road", "river", "stream", "town", "village", "bridge"):
        assert kinds.get(kind, 0) > 0, kinds
    for feature in whole["features"]:
        props = feature["properties"]
        if props["kind"] in ("city", "town", "village"):
            assert props["name"] and props["population"] > 0
            assert feature["geometry"]["type"] == "Point"
        if props["kind"] == "road":
            assert props["class"] in ("main", "minor")
            assert feature["geometry"]["type"] == "LineString"


def test_a_bbox_filters_the_features(stack: Stack, whole: dict) -> None:
    bbox = (10.6, -1.4, 10.9, -1.1)
    response = _get(stack, f"/worlds/{WORLD}/features.geojson", bbox=",".join(map(str, bbox)))
    part = response.json()
    assert 0 < len(part["features"]) < len(whole["features"])
    west, south, east, north = bbox
    for feature in part["features"]:
        geometry = feature["geometry"]
        points = (
            [geometry["coordinates"]] if geometry["type"] == "Point" else geometry["coordinates"]
        )
        inside = [west <= lon <= east and south <= lat <= north for lon, lat in points]
        assert any(inside)
        if geometry["type"] == "Point":
            assert all(inside)
    outside = _get(stack, f"/worlds/{WORLD}/features.geojson", bbox="50,10,51,11").json()
    assert outside["features"] == []


@pytest.mark.parametrize(
    ("bbox", "status", "words"),
    [
        (None, 400, "bbox is required"),
        ("1,2,3", 400, "4 numbers"),
        ("a,b,c,d", 400, "four numbers"),
        ("11,-1,10,-0.5", 400, "inverted"),
        ("0,-10,10,0", 400, "larger than"),
        ("10,-2,200,-1", 400, "outside"),
    ],
)
def test_bad_bboxes_are_400s_that_say_why(
    stack: Stack, bbox: str | None, status: int, words: str
) -> None:
    params = {} if bbox is None else {"bbox": bbox}
    response = _get(stack, f"/worlds/{WORLD}/features.geojson", **params)
    assert response.status_code == status
    assert words in response.json()["error"]


def test_worlds_without_a_plan_or_unknown_worlds_are_404s(stack: Stack) -> None:
    assert _get(stack, "/worlds/testland/features.geojson", bbox="0,0,1,1").status_code == 404
    assert _get(stack, "/worlds/nowhere/features.geojson", bbox="0,0,1,1").status_code == 404


def _pixel(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    n = 256 * 2**zoom
    x = (lon + 180.0) / 360.0 * n
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n
    return x, y


def test_roads_in_the_geojson_lie_on_the_roads_in_the_tiles(stack: Stack, whole: dict) -> None:
    """Main roads are drawn white on the plan layer (debug layer of the same plan the
    imagery is drawn from): at max zoom, the GeoJSON's vertices fall on white pixels
    (within a pixel)."""
    zoom = 14
    roads = [
        f
        for f in whole["features"]
        if f["properties"]["kind"] == "road" and f["properties"]["class"] == "main"
    ]
    assert roads
    checked = 0
    for feature in roads[:6]:
        coordinates = feature["geometry"]["coordinates"]
        lon, lat = coordinates[len(coordinates) // 2]
        px, py = _pixel(lon, lat, zoom)
        tx, ty = int(px // 256), int(py // 256)
        response = _get(stack, f"/worlds/{WORLD}/layout/{zoom}/{tx}/{ty}.png")
        assert response.status_code == 200
        image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
        col, row = int(px - tx * 256), int(py - ty * 256)
        window = image[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2].astype(int)
        assert window.min(axis=2).max() == 255, f"no road at {lon},{lat}"
        checked += 1
    assert checked >= 3
