"""The viewers' planner layers in a real Chromium against a running stack: the layers a world
offers (layers.json), the MGRS readout and grid checked against an independent MGRS
implementation (Python `mgrs`), and the map, vector overlay and 3D terrain drawn with no
console error and no request leaving the server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import mgrs
import numpy as np
import pytest
from PIL import Image

from tests.stack import Stack
from tests.test_viewers_seed_export import CHROMIUM, CHROMIUM_FLAGS

pytestmark = pytest.mark.integration

VIEWERS = ["/", "/openlayers", "/maplibre"]
# Planland (tests/data/worlds.toml) is a plan island: terrain and vector tiles exist for it.
PLAN_WORLD = "planland"
# Known points of Planland and its sea (zone 32M), and one in another zone and hemisphere.
KNOWN_POINTS = [(10.75, -1.25), (10.123456, -0.654321), (11.4999, -1.9999), (-27.0, -7.0)]
REFERENCE = mgrs.MGRS()


@dataclass
class Page:
    """A browser page on the stack, recording what went wrong and what it fetched."""

    page: Any
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)

    def count(self, pattern: str, status: int = 200) -> int:
        return sum(1 for s, url in self.answers if s == status and re.search(pattern, url))

    def wait_for(self, condition: Any, timeout_s: float = 90) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            self.page.wait_for_timeout(250)
        return False


@contextmanager
def browser_page(stack: Stack, path: str, size: tuple[int, int] = (1024, 768)) -> Iterator[Page]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser test (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        recorded = Page(page)

        def route(request_route: Any) -> None:
            url = request_route.request.url
            # Same-origin, data: and blob: (workers made by the page) are local; the rest
            # would leave the machine: refused, and recorded as a failure.
            if url.startswith((stack.base_url, "data:", "blob:")):
                request_route.continue_()
            else:
                recorded.foreign.append(url)
                request_route.abort()

        def on_response(response: Any) -> None:
            recorded.answers.append((response.status, response.url))
            if response.status >= 400:
                recorded.errors.append(f"HTTP {response.status} for {response.url}")

        page.route("**/*", route)
        page.on("console", lambda m: recorded.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: recorded.errors.append(str(e)))
        page.on("response", on_response)
        page.goto(f"{stack.base_url}{path}")
        try:
            yield recorded
        finally:
            browser.close()


def _plan_layers_served(stack: Stack) -> dict[str, dict[str, str]]:
    return httpx.get(f"{stack.base_url}/worlds/{PLAN_WORLD}/layers.json", timeout=30).json()[
        "layers"
    ]


def test_layers_document_offers_plan_layers_only_where_they_exist(stack: Stack) -> None:
    paths = httpx.get(f"{stack.base_url}/openapi.json", timeout=30).json()["paths"]
    plan = httpx.get(f"{stack.base_url}/worlds/{PLAN_WORLD}/layers.json", timeout=30)
    assert plan.status_code == 200
    layers = plan.json()["layers"]
    assert layers["imagery"]["tilejson"].endswith(f"/worlds/{PLAN_WORLD}/tilejson.json")
    # Each document offered answers 200; a layer is offered when its route is mounted.
    for layer, kind, path in (
        ("terrain", "tilejson", "/terrain.json"),
        ("vector", "tilejson", "/vector.json"),
        ("vector", "style", "/map-style.json"),
    ):
        mounted = "/worlds/{world_id}" + path in paths
        assert (kind in layers.get(layer, {})) == mounted, (layer, kind)
        if mounted:
            assert httpx.get(layers[layer][kind], timeout=60).status_code == 200
    # A procedural world (the default, testland) has no plan: imagery only.
    default = httpx.get(f"{stack.base_url}/layers.json", timeout=30).json()
    assert default["world"] == "testland" and set(default["layers"]) == {"imagery"}
    keyed = httpx.get(f"{stack.base_url}/worlds/{PLAN_WORLD}/layers.json?key=abc", timeout=30)
    assert all(
        url.endswith("?key=abc")
        for docs in keyed.json()["layers"].values()
        for url in docs.values()
    )
    missing = httpx.get(f"{stack.base_url}/worlds/atlantis/layers.json", timeout=30)
    assert missing.status_code == 404 and "atlantis" in missing.json()["error"]


# How each library turns a pixel of the map into lon/lat, for the readout under the mouse.
PIXEL_TO_LONLAT = {
    "/": "([x, y]) => { const p = window.synthtilesMap.containerPointToLatLng([x, y]);"
    " return [p.lng, p.lat]; }",
    "/openlayers": "([x, y]) => ol.proj.toLonLat("
    "window.synthtilesMap.getCoordinateFromPixel([x, y]))",
    "/maplibre": "([x, y]) => { const p = window.synthtilesMap.unproject([x, y]);"
    " return [p.lng, p.lat]; }",
}
# The number of grid features each library holds.
GRID_FEATURES = {
    "/": "() => { let n = 0; window.synthtilesMap.eachLayer((l) => { if (l.feature) n++; });"
    " return n; }",
    "/openlayers": "() => { const layers = window.synthtilesMap.getLayers();"
    " return layers.item(layers.getLength() - 1).getSource().getFeatures().length; }",
    "/maplibre": "() => window.synthtilesMap.querySourceFeatures('mgrs-grid').length",
}


def _reference(lon: float, lat: float) -> str:
    return REFERENCE.toMGRS(lat, lon, MGRSPrecision=5)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_mgrs_readout_and_grid_match_the_reference(stack: Stack, viewer: str) -> None:
    with browser_page(stack, f"{viewer}?world={PLAN_WORLD}&zoom=12&grid=1") as view:
        page = view.page
        assert view.wait_for(lambda: page.evaluate("() => window.synthtilesReady === true"))
        # The shared module against the reference, at known points.
        for lon, lat in KNOWN_POINTS:
            text = page.evaluate(f"() => SynthGrid.mgrs({lon}, {lat})")
            assert text.replace(" ", "") == _reference(lon, lat), (lon, lat, text)
        # The readout under the mouse, for the position the library puts under it.
        page.mouse.move(417, 293)
        page.wait_for_timeout(300)
        lon, lat = page.evaluate(PIXEL_TO_LONLAT[viewer], [417, 293])
        readout = page.inner_text("#coords")
        assert f"{lat:.5f}°, {lon:.5f}°" in readout, readout
        shown = re.search(r"MGRS (\d+[A-Z] [A-Z]{2} \d{5} \d{5})", readout)
        assert shown, readout
        assert _close_references(shown.group(1).replace(" ", ""), _reference(lon, lat))
        # The grid the page drew: lines on whole kilometres of the reference's grid.
        assert view.wait_for(lambda: page.evaluate(GRID_FEATURES[viewer]) > 20, 30)
        grid = page.evaluate(
            "() => SynthGrid.grid("
            "{west: 10.6, south: -1.35, east: 10.9, north: -1.15},"
            " SynthGrid.metresPerPixel(-1.25, 12))"
        )
        labels = page.locator(".synthtiles-grid-label").count() if viewer != "/openlayers" else 1
        assert labels > 0
        assert not view.errors, view.errors
        assert not view.foreign, view.foreign
    _check_grid_lines(grid)


def _close_references(shown: str, expected: str) -> bool:
    """The same square and within 2 m (the readout's lon/lat went through a float32 GPU
    matrix in MapLibre, and 5-decimal degrees in the comparison)."""
    if shown[:5] != expected[:5]:
        return False
    return all(abs(int(shown[i : i + 5]) - int(expected[i : i + 5])) <= 2 for i in (5, 10))


def _check_grid_lines(grid: dict) -> None:
    lines = [f for f in grid["features"] if f["geometry"]["type"] == "LineString"]
    labels = [f for f in grid["features"] if f["properties"]["kind"] == "label"]
    assert {f["properties"]["spacing"] for f in lines} == {1000}  # z12: 1 km squares
    assert any(f["properties"]["major"] for f in lines)  # 10 km lines stand out
    on_line = 0
    for feature in lines:
        coordinates = feature["geometry"]["coordinates"]
        references = [_reference(lon, lat) for lon, lat in coordinates]
        eastings = {int(r[5:10]) for r in references}
        northings = {int(r[10:15]) for r in references}
        # Every vertex lies on the line: its easting (or northing) is a whole kilometre.
        for values in (eastings, northings):
            if all(min(v % 1000, 1000 - v % 1000) <= 1 for v in values):
                on_line += 1
                break
        else:
            pytest.fail(f"grid line off the 1 km grid: {references[:3]}")
        if feature["properties"]["major"]:
            values = eastings if len(eastings) < len(northings) else northings
            assert all(min(v % 10000, 10000 - v % 10000) <= 1 for v in values)
    assert on_line == len(lines) > 20
    # 1 km squares are 26 px at z12: labels go on 10 km squares, with the reference's letters
    # and digits of the square under the label.
    assert labels
    for label in labels:
        lon, lat = label["geometry"]["coordinates"]
        expected = _reference(lon, lat)
        assert label["properties"]["label"] == f"{expected[3:5]} {expected[5]} {expected[10]}"


def _shot(page: Any, path: Path) -> np.ndarray:
    page.screenshot(path=str(path))
    return np.asarray(Image.open(path).convert("RGB")).astype(float)


@pytest.mark.parametrize("viewer", ["/", "/openlayers"])
def test_map_and_vector_overlay_from_vector_tiles(
    stack: Stack, viewer: str, tmp_path: Path
) -> None:
    """base=map draws the world's vector tiles as the map (the library's own MVT renderer);
    overlay=1 draws roads, rivers and contours over the imagery."""
    layers = _plan_layers_served(stack)
    if "vector" not in layers:
        pytest.fail("vector tiles are not served: app/routers/vector.py is not mounted")
    with browser_page(stack, f"{viewer}?world={PLAN_WORLD}&zoom=12&base=map") as view:
        assert view.wait_for(lambda: view.count(r"/vector/\d+/\d+/\d+\.pbf") >= 6)
        view.page.wait_for_timeout(1500)
        mapped = _shot(view.page, tmp_path / "map.png")
        assert view.count(r"/\d+/\d+/\d+\.png$") == 0  # no imagery behind the map
        if viewer == "/":
            view.page.hover(".leaflet-control-layers")  # the control opens on hover
            view.page.click("label:has-text('Synthetic imagery')")
        else:
            view.page.click("#base-imagery")
        assert view.wait_for(lambda: view.count(r"/worlds/planland/\d+/\d+/\d+\.png") >= 6)
        view.page.wait_for_timeout(1500)
        imagery = _shot(view.page, tmp_path / "imagery.png")
        assert not view.errors, view.errors
        assert not view.foreign, view.foreign
    assert mapped.std() > 5 and imagery.std() > 5
    # The map is a light paper map; the imagery a darker photograph.
    assert mapped.mean() > imagery.mean() + 20


def test_maplibre_draws_3d_terrain_hillshade_and_the_map(stack: Stack, tmp_path: Path) -> None:
    layers = _plan_layers_served(stack)
    missing = [name for name in ("terrain", "vector") if name not in layers]
    if missing:
        pytest.fail(f"{missing} not served: their routers are not mounted")
    path = (
        f"/maplibre?world={PLAN_WORLD}&zoom=12.5&center=10.75,-1.25&pitch=60&bearing=20"
        "&terrain=1&hillshade=1&overlay=1"
    )
    with browser_page(stack, path) as view:
        page = view.page
        assert view.wait_for(lambda: page.evaluate("() => window.synthtilesReady === true"))
        assert view.wait_for(lambda: view.count(r"/terrain/\d+/\d+/\d+\.png") >= 4)
        assert view.wait_for(lambda: view.count(r"/vector/\d+/\d+/\d+\.pbf") >= 4)
        page.wait_for_timeout(3000)
        state = page.evaluate(
            "() => { const m = window.synthtilesMap; return {"
            " terrain: m.getTerrain(), pitch: m.getPitch(),"
            " elevation: m.queryTerrainElevation(m.getCenter()),"
            " hillshade: m.getLayoutProperty('hillshade', 'visibility'),"
            " roads: m.querySourceFeatures('vector', {sourceLayer: 'road'}).length }; }"
        )
        imagery = _shot(page, tmp_path / "terrain-3d.png")
        page.click("#base-map")
        page.wait_for_timeout(3000)
        mapped = _shot(page, tmp_path / "map-3d.png")
        assert not view.errors, view.errors
        assert not view.foreign, view.foreign
    assert state["terrain"]["source"] == "terrain-dem" and state["terrain"]["exaggeration"] > 1
    assert state["pitch"] == pytest.approx(60)
    assert state["elevation"] is not None and state["elevation"] > 0
    assert state["hillshade"] == "visible" and state["roads"] > 0
    assert imagery.std() > 5 and mapped.std() > 5
    assert np.abs(mapped - imagery).mean() > 10  # the map replaced the imagery
