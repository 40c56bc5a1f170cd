"""Vector tiles (MVT) of a plan world: what they hold, that an independent decoder reads
them, that their roads lie on the imagery's roads and their contours on the terrain, and
the HTTP answers of a real API process."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import mapbox_vector_tile
import numpy as np
import pytest
from scipy import ndimage
from shapely.geometry import LineString, box, shape

from core.layers.terrain import terrain_heights
from core.layers.vector import (
    BUFFER,
    EXTENT,
    LANDCOVER,
    VECTOR_LAYERS,
    NoPlan,
    contour_interval,
    vector_tile,
)
from core.layout import layout_of
from tests.stack import ROOT, Stack
from tests.test_serving import CATALOG

PLANLAND = CATALOG.get("planland")  # extent 10..11.5, -2..-0.5; zooms 10-14
# A z12 tile of planland with a lake, rivers, roads, a bridge and a village in it.
RICH_TILE = (12, 2167, 2059)
NODE_TOOLS = ROOT / "tools" / "node"


def _decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})


@pytest.fixture(scope="module")
def rich() -> dict:
    return _decode(vector_tile(PLANLAND, *RICH_TILE))


def test_a_tile_holds_every_layer_with_the_documented_fields(rich: dict) -> None:
    assert set(rich) == set(VECTOR_LAYERS)
    allowed = {
        "water": {"kind": {"sea", "lake"}},
        "waterway": {"kind": {"river", "stream"}},
        "road": {"kind": {"main", "minor", "track"}},
        "bridge": {"kind": {"main", "minor", "track"}},
        "place": {"kind": {"city", "town", "village"}},
        "landcover": {"class": set(LANDCOVER)},
    }
    geometry = {
        "water": {"Polygon", "MultiPolygon"},
        "landcover": {"Polygon", "MultiPolygon"},
        "waterway": {"LineString", "MultiLineString"},
        "road": {"LineString", "MultiLineString"},
        "bridge": {"LineString", "MultiLineString"},
        "contour": {"LineString", "MultiLineString"},
        "place": {"Point"},
    }
    for name, layer in rich.items():
        assert layer["extent"] == EXTENT
        for feature in layer["features"]:
            assert feature["geometry"]["type"] in geometry[name], name
            for field, values in allowed.get(name, {}).items():
                assert feature["properties"][field] in values, (name, feature["properties"])
    for place in rich["place"]["features"]:
        assert place["properties"]["name"] and place["properties"]["population"] > 0
        x, y = place["geometry"]["coordinates"]
        assert 0 <= x < EXTENT and 0 <= y < EXTENT  # one label per place: in its own tile
    interval = contour_interval(RICH_TILE[0])
    for contour in rich["contour"]["features"]:
        ele = contour["properties"]["ele"]
        assert ele > 0 and ele % interval == 0
        assert contour["properties"]["index"] == int(ele % (5 * interval) == 0)


def test_geometry_is_valid_and_clipped_to_the_tile_and_its_buffer(rich: dict) -> None:
    for name, layer in rich.items():
        for feature in layer["features"]:
            geometry = shape(feature["geometry"])
            assert geometry.is_valid, name
            x0, y0, x1, y1 = geometry.bounds
            assert min(x0, y0) >= -BUFFER and max(x1, y1) <= EXTENT + BUFFER, name


def test_bridges_are_pieces_of_roads_over_water(rich: dict) -> None:
    roads = [shape(f["geometry"]) for f in rich["road"]["features"]]
    water = [shape(f["geometry"]) for f in rich["waterway"]["features"]]
    water += [shape(f["geometry"]) for f in rich["water"]["features"]]
    assert rich["bridge"]["features"]
    for bridge in rich["bridge"]["features"]:
        line = shape(bridge["geometry"])
        # On a road (within rounding to the tile grid) and crossing or touching water.
        assert min(road.distance(line.centroid) for road in roads) < 2.0
        assert min(w.distance(line) for w in water) < 2.0
        assert line.length < 400.0 / (40_075_016.686 / 2 ** RICH_TILE[0] / EXTENT)


def test_worlds_without_a_plan_have_no_vector_tiles() -> None:
    with pytest.raises(NoPlan, match="has no plan"):
        vector_tile(CATALOG.get("testland"), 4, 8, 8)


def _samples(line: LineString, step: float) -> np.ndarray:
    count = max(2, int(line.length / step) + 1)
    return np.array([line.interpolate(d).coords[0] for d in np.linspace(0, line.length, count)])


def _road_tiles_at_max_zoom(rich: dict, limit: int) -> list[tuple[int, int, int]]:
    """Max-zoom tiles that RICH_TILE's roads run through."""
    z, x, y = RICH_TILE
    zoom = PLANLAND.max_zoom
    scale = 2 ** (zoom - z)
    found: list[tuple[int, int, int]] = []
    for feature in rich["road"]["features"]:
        for px, py in _samples(shape(feature["geometry"]), 300.0):
            if not (0 <= px < EXTENT and 0 <= py < EXTENT):
                continue
            tile = (
                zoom,
                x * scale + int(px / EXTENT * scale),
                y * scale + int(py / EXTENT * scale),
            )
            if tile not in found:
                found.append(tile)
    return found[:limit]


def test_roads_lie_on_the_imagery_roads_at_max_zoom(rich: dict) -> None:
    """The plan raster's road coverage is what the imagery paints roads from: at max zoom,
    points along every decoded road fall on (or within a pixel of) pixels the raster covers
    with road; the same roads moved by 12 pixels mostly do not (so the check can fail)."""
    tiles = _road_tiles_at_max_zoom(rich, 4)
    assert len(tiles) >= 3
    layout = layout_of(PLANLAND)
    size = PLANLAND.tile_size
    on_road, shifted_on_road, total = 0, 0, 0
    for z, x, y in tiles:
        decoded = _decode(vector_tile(PLANLAND, z, x, y))
        raster = layout.region(z, x * size, y * size, size, size).raster
        assert raster is not None
        cover = ndimage.maximum_filter(np.maximum.reduce(list(raster.roads.values())), 3)
        for feature in decoded["road"]["features"]:
            points = _samples(shape(feature["geometry"]), 8.0) / (EXTENT / size)  # pixels
            inside = (points >= 0).all(1) & (points < size).all(1)
            cols, rows = points[inside].astype(int).T
            on_road += int((cover[rows, cols] > 0).sum())
            shifted = np.clip(rows + 12, 0, size - 1)
            shifted_on_road += int((cover[shifted, cols] > 0).sum())
            total += int(inside.sum())
    print(
        f"road samples {total}: on road {on_road / total:.4f}, moved {shifted_on_road / total:.4f}"
    )
    assert total > 200
    assert on_road / total > 0.99, on_road / total
    assert shifted_on_road / total < 0.5, shifted_on_road / total


def test_contours_lie_at_their_height() -> None:
    """Where a contour line runs, the terrain tiles' surface is at the line's height (within
    a quarter of the interval for nine points in ten)."""
    z, x, y = RICH_TILE
    size = PLANLAND.tile_size
    decoded = _decode(vector_tile(PLANLAND, z, x, y))
    heights = terrain_heights(PLANLAND, z, x * size, y * size, size, size)
    errors = []
    for feature in decoded["contour"]["features"]:
        points = _samples(shape(feature["geometry"]), 16.0) / (EXTENT / size) - 0.5
        inside = (points >= 0).all(1) & (points <= size - 1).all(1)
        cols, rows = np.round(points[inside]).astype(int).T
        errors += list(np.abs(heights[rows, cols] - feature["properties"]["ele"]))
    print(
        f"contour samples {len(errors)}: 90th percentile of |height - ele| "
        f"{np.percentile(errors, 90):.2f} m (interval {contour_interval(z)} m)"
    )
    assert len(errors) > 50
    assert np.percentile(errors, 90) < contour_interval(z) / 4, np.percentile(errors, 90)


def test_areas_and_lines_meet_across_a_tile_border() -> None:
    """Two neighbouring tiles trace the same land cover over their shared buffer: the
    area of each class inside the overlap strip agrees closely."""
    z, x, y = RICH_TILE
    left = _decode(vector_tile(PLANLAND, z, x, y))
    right = _decode(vector_tile(PLANLAND, z, x + 1, y))
    strip_left = (EXTENT - 60, 0, EXTENT + 60, EXTENT)  # around the shared edge, in left's units

    def areas(layer: dict, window) -> dict[str, float]:
        out: dict[str, float] = {}
        for feature in layer["features"]:
            name = feature["properties"]["class"]
            out[name] = out.get(name, 0.0) + shape(feature["geometry"]).intersection(window).area
        return out

    mine = areas(left["landcover"], box(*strip_left))
    theirs = areas(right["landcover"], box(-60, 0, 60, EXTENT))
    assert mine and set(mine) == set(theirs)
    for name, area in mine.items():
        assert abs(area - theirs[name]) <= 0.05 * area + 16 * 16 * 4, (name, area, theirs[name])


def test_an_independent_decoder_reads_the_same_tile(tmp_path: Path) -> None:
    """@mapbox/vector-tile (the decoder MapLibre uses, with pbf) reads what
    mapbox-vector-tile wrote: same layers, features, properties and vertices."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the independent (JavaScript) decoder cannot run")
    if not (NODE_TOOLS / "node_modules" / "@mapbox" / "vector-tile").exists():
        pytest.fail(f"run `npm ci --prefix {NODE_TOOLS.relative_to(ROOT)}` first (see .ci/run)")
    body = vector_tile(PLANLAND, *RICH_TILE)
    path = tmp_path / "tile.pbf"
    path.write_bytes(body)
    result = subprocess.run(
        [node, str(NODE_TOOLS / "decode-mvt.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    theirs = json.loads(result.stdout)
    ours = _decode(body)
    assert set(theirs) == set(ours) == set(VECTOR_LAYERS)
    for name, layer in ours.items():
        assert theirs[name]["extent"] == EXTENT and theirs[name]["version"] == 2
        assert len(theirs[name]["features"]) == len(layer["features"])
        for mine, other in zip(layer["features"], theirs[name]["features"], strict=True):
            assert other["properties"] == mine["properties"]
            assert other["type"] == mine["geometry"]["type"].removeprefix("Multi")
            assert other["geometry"] == _rings(mine["geometry"]), name


def _rings(geometry: dict) -> list:
    """A GeoJSON-like geometry as @mapbox/vector-tile's loadGeometry gives it: a flat list
    of rings (lines, polygon rings, or one ring per point)."""
    kind, coordinates = geometry["type"], geometry["coordinates"]
    if kind == "Point":
        return [[list(coordinates)]]
    if kind == "LineString":
        return [[list(p) for p in coordinates]]
    if kind in ("MultiLineString", "Polygon"):
        return [[list(p) for p in ring] for ring in coordinates]
    assert kind == "MultiPolygon", kind
    return [[list(p) for p in ring] for polygon in coordinates for ring in polygon]


# -- the HTTP API ------------------------------------------------------------------------


@pytest.mark.integration
def test_vector_tiles_are_served_like_tiles(stack: Stack) -> None:
    z, x, y = RICH_TILE
    url = f"{stack.base_url}/worlds/planland/vector/{z}/{x}/{y}.pbf"
    response = httpx.get(url, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.content == vector_tile(PLANLAND, z, x, y)  # deterministic
    etag = response.headers["etag"]
    again = httpx.get(url, headers={"If-None-Match": etag}, timeout=60)
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(url, timeout=60)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(response.content)
    assert head.headers["etag"] == etag


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/worlds/planland/vector/12/2167/2059.png", 400, "vector tiles are {y}.pbf"),
        ("/worlds/planland/vector/12/2167/2059", 400, "vector tiles are {y}.pbf"),
        ("/worlds/planland/vector/9/1083/1029.pbf", 404, "zoom range"),
        ("/worlds/planland/vector/12/99999/2059.pbf", 400, "off the grid"),
        ("/worlds/planland/vector/12/10/10.pbf", 404, "outside world"),
        ("/worlds/planland/vector/12/02167/2059.pbf", 400, "leading zeros"),
        ("/worlds/testland/vector/4/8/8.pbf", 404, "has no plan"),
        ("/vector/4/8/8.pbf", 404, "has no plan"),  # the suite's default world is testland
        ("/worlds/nowhere/vector/12/2167/2059.pbf", 404, "unknown world"),
        ("/worlds/testland/map-style.json", 404, "has no plan"),
        ("/worlds/testland/vector.json", 404, "has no plan"),
    ],
)
def test_bad_vector_requests_say_why(stack: Stack, path: str, status: int, words: str) -> None:
    response = httpx.get(f"{stack.base_url}{path}", timeout=60)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.integration
def test_vector_tilejson_lists_the_layers_and_its_template_works(stack: Stack) -> None:
    document = httpx.get(f"{stack.base_url}/worlds/planland/vector.json", timeout=60).json()
    assert document["tilejson"] == "3.0.0" and document["format"] == "pbf"
    assert [layer["id"] for layer in document["vector_layers"]] == list(VECTOR_LAYERS)
    for layer in document["vector_layers"]:
        assert layer["fields"] == VECTOR_LAYERS[layer["id"]]["fields"]
        assert (layer["minzoom"], layer["maxzoom"]) == (10, 14)
    z, x, y = RICH_TILE
    url = document["tiles"][0].format(z=z, x=x, y=y)
    assert httpx.get(url, timeout=120).status_code == 200
