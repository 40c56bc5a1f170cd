"""The three ways the product is used: web viewers, seeding an area, COG export."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
import rasterio.warp
from PIL import Image

from tests.stack import ROOT, Stack, metric_value
from tests.test_serving import CATALOG

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # MapLibre needs WebGL: software rendering (SwiftShader) on a machine without a GPU.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
TILE_URL = re.compile(r"/\d+/\d+/\d+\.png$")
# Inside testland's extent (-40..40, -30..30).
SEED_BBOX = "-10,-8,0,0"


def _cli(
    stack: Stack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env={**stack.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("page_path", ["/", "/openlayers", "/maplibre"])
def test_viewer_loads_a_screenful_of_tiles_without_console_errors(
    stack: Stack, page_path: str, tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser test (apt-get install chromium)")
    errors: list[str] = []
    final_tiles: set[str] = set()

    def on_response(response) -> None:
        url = response.url
        if response.status >= 400:
            errors.append(f"HTTP {response.status} for {url}")
        pending = response.headers.get("x-synthtiles-pending") == "true"
        if TILE_URL.search(url) and response.status == 200 and not pending:
            final_tiles.add(url)

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", on_response)
        page.goto(f"{stack.base_url}{page_path}?zoom=6")  # testland is 4 tiles at zoom 2
        deadline = time.monotonic() + 120
        while len(final_tiles) < 12 and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        page.wait_for_timeout(500)
        shot = tmp_path / f"viewer{page_path.replace('/', '-') or '-leaflet'}.png"
        page.screenshot(path=str(shot))
        attribution = page.inner_text("body")
        browser.close()
    assert len(final_tiles) >= 12, f"only {len(final_tiles)} tiles loaded"
    assert errors == []
    assert "not a real place" in attribution
    screenshot = np.asarray(Image.open(shot).convert("RGB"))
    assert screenshot.std() > 5  # imagery, not a blank page
    out = os.environ.get("SYNTHTILES_SCREENSHOT_DIR")
    if out:
        shutil.copy(shot, Path(out) / shot.name)


def test_api_reference_page_renders_from_vendored_scripts(stack: Stack) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser test (apt-get install chromium)")
    errors: list[str] = []
    foreign: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "request",
            lambda r: foreign.append(r.url) if not r.url.startswith(stack.base_url) else None,
        )
        page.goto(f"{stack.base_url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        title = page.inner_text(".info .title")
        browser.close()
    assert errors == [] and foreign == []
    assert "synthtiles" in title
    assert any("/export" in path for path in paths)
    assert httpx.get(f"{stack.base_url}/redoc", timeout=10).status_code == 404


def test_placeholder_mode_serves_the_parent_while_generating(stack: Stack) -> None:
    min_x, min_y, _, _ = CATALOG.get("testland").tile_range(8)
    z, x, y = 8, min_x + 30, min_y + 20
    first = httpx.get(
        f"{stack.base_url}/{z}/{x}/{y}.png",
        headers={"X-Synthtiles-Placeholder": "parent"},
        timeout=30,
    )
    assert first.status_code == 200
    assert first.headers["x-synthtiles-pending"] == "true"
    assert first.headers["cache-control"] == "no-store"
    assert Image.open(io.BytesIO(first.content)).size == (256, 256)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        again = httpx.get(
            f"{stack.base_url}/{z}/{x}/{y}.png",
            headers={"X-Synthtiles-Placeholder": "parent"},
            timeout=30,
        )
        if again.headers.get("x-synthtiles-pending") != "true":
            break
        time.sleep(0.2)
    assert again.status_code == 200 and "etag" in again.headers
    plain = httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=30)
    assert plain.content == again.content


@pytest.mark.parametrize("page_path", ["/", "/openlayers"])
def test_viewer_overlays_the_plan_features_with_place_names(
    stack: Stack, page_path: str, tmp_path: Path
) -> None:
    """?features=1 turns the plan overlay on: the page fetches features.geojson for its
    view and draws roads, rivers and named places over the imagery, without errors."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser test (apt-get install chromium)")
    errors: list[str] = []
    answers: list[int] = []

    def on_response(response) -> None:
        if "features.geojson" in response.url:
            answers.append(response.status)
        elif response.status >= 400:
            errors.append(f"HTTP {response.status} for {response.url}")

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 800, "height": 600})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", on_response)
        page.goto(f"{stack.base_url}{page_path}?world=planland&zoom=11&features=1")
        deadline = time.monotonic() + 90
        while 200 not in answers and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        page.wait_for_timeout(1500)
        text = page.inner_text("body")
        drawn = page.evaluate(
            "() => document.querySelectorAll('path.leaflet-interactive').length"
            if page_path == "/"
            else "() => window.synthtilesMap.getLayers().item(2).getSource().getFeatures().length"
        )
        page.screenshot(path=str(tmp_path / "overlay.png"))
        browser.close()
    assert 200 in answers, answers
    assert errors == []
    assert drawn > 10
    if page_path == "/":
        # City and town names are permanent labels on the Leaflet map.
        assert re.search(r"[A-Z][a-z]{3,}", text.replace("Synthetic imagery", ""))


def test_seeding_fills_the_cache_so_requests_never_generate(stack: Stack) -> None:
    result = _cli(stack, "seed", "--world", "testland", "--bbox", SEED_BBOX, "--zoom", "4-5")
    assert result.returncode == 0, result.stderr
    assert "0 failed" in result.stdout
    before = httpx.get(f"{stack.base_url}/metrics", timeout=10).text
    from core.bbox import tiles_in

    tiles = [
        (z, x, y) for z in (4, 5) for x, y in tiles_in(CATALOG.get("testland"), (-10, -8, 0, 0), z)
    ]
    sources = {
        httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=30).headers["x-synthtiles-source"]
        for z, x, y in tiles
    }
    after = httpx.get(f"{stack.base_url}/metrics", timeout=10).text
    # Sent from the stored files (granian's hot path), never generated: no Redis miss.
    assert sources == {"store"}
    hits = metric_value(
        after, "synthtiles_tile_cache_total", layer="store", result="hit"
    ) - metric_value(before, "synthtiles_tile_cache_total", layer="store", result="hit")
    misses = metric_value(
        after, "synthtiles_tile_cache_total", layer="redis", result="miss"
    ) - metric_value(before, "synthtiles_tile_cache_total", layer="redis", result="miss")
    assert hits == len(tiles) and misses == 0
    # Resumable: a second run finds everything done.
    again = _cli(stack, "seed", "--world", "testland", "--bbox", SEED_BBOX, "--zoom", "4-5")
    assert again.returncode == 0 and " 0 units generated here" in again.stdout


def test_seed_rejects_bad_input(stack: Stack) -> None:
    for args, message in (
        (["--bbox", "1,2,3"], "4 numbers"),
        (["--bbox", "5,0,0,5"], "inverted"),
        (["--bbox", "100,60,110,70"], "does not overlap"),
        (["--bbox", SEED_BBOX, "--zoom", "1-3"], "outside world"),
    ):
        full = ["seed", "--world", "testland", *args]
        if "--zoom" not in args:
            full += ["--zoom", "4"]
        result = _cli(stack, *full)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)


def _validate_cog(path: Path) -> str:
    rio = Path(sys.executable).parent / "rio"
    result = subprocess.run(
        [str(rio), "cogeo", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _check_export_matches_tiles(stack: Stack, path: Path, zoom: int) -> None:
    with rasterio.open(path) as dataset:
        assert dataset.crs.to_epsg() == 3857
        assert dataset.count == 3 and dataset.overviews(1)
        assert dataset.tags()["SYNTHETIC"] == "true"
        assert dataset.tags()["SYNTHTILES_WORLD"] == "testland"
        pixels = dataset.read().transpose(1, 2, 0)
        left, top = dataset.bounds.left, dataset.bounds.top
        resolution = dataset.res[0]
    origin = 20037508.342789244
    px0 = round((left + origin) / resolution)
    py0 = round((origin - top) / resolution)
    height, width = pixels.shape[:2]
    # The tile under the export's centre, compared where the two overlap.
    tx, ty = (px0 + width // 2) // 256, (py0 + height // 2) // 256
    tile = httpx.get(f"{stack.base_url}/{zoom}/{tx}/{ty}.png", timeout=60)
    tile_pixels = np.asarray(Image.open(io.BytesIO(tile.content)).convert("RGB"))
    gx0, gy0 = max(tx * 256, px0), max(ty * 256, py0)
    gx1, gy1 = min(tx * 256 + 256, px0 + width), min(ty * 256 + 256, py0 + height)
    assert gx1 - gx0 >= 64 and gy1 - gy0 >= 64
    exported = pixels[gy0 - py0 : gy1 - py0, gx0 - px0 : gx1 - px0]
    served = tile_pixels[gy0 - ty * 256 : gy1 - ty * 256, gx0 - tx * 256 : gx1 - tx * 256]
    assert np.array_equal(exported, served)


def test_direct_export_is_a_valid_cog_matching_the_tiles(stack: Stack, tmp_path: Path) -> None:
    body = {"world": "testland", "bbox": [-10, -8, 0, 0], "zoom": 6, "format": "cog"}
    response = httpx.post(f"{stack.base_url}/export", json=body, timeout=300)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/tiff"
    path = tmp_path / "export.tif"
    path.write_bytes(response.content)
    assert "is a valid cloud optimized GeoTIFF" in _validate_cog(path)
    with rasterio.open(path) as dataset:
        west, south, east, north = rasterio.warp.transform_bounds(3857, 4326, *dataset.bounds)
        resolution_deg = 360 / (256 * 2**6)
        assert abs(west - -10) < resolution_deg and abs(east - 0) < resolution_deg
        assert abs(north - 0) < resolution_deg and abs(south - -8) < 2 * resolution_deg
    _check_export_matches_tiles(stack, path, 6)


def wait_for_export(status_url: str, timeout_s: float = 240) -> dict:
    """Polls an export job until it is done (failing on any other state); its last status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = httpx.get(status_url, timeout=10).json()
        assert status["status"] in ("queued", "running", "done"), status
        if status["status"] == "done":
            return status
        time.sleep(0.5)
    raise AssertionError(f"export job not done within {timeout_s} s: {status}")


def test_large_export_runs_as_a_job(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api(
        SYNTHTILES_EXPORT_DIRECT_MAX_PIXELS="1000", SYNTHTILES_EXPORT_DIR=str(tmp_path / "exports")
    )
    body = {"world": "testland", "bbox": [0, 0, 10, 8], "zoom": 6}
    accepted = httpx.post(f"{api}/export", json=body, timeout=30)
    assert accepted.status_code == 202, accepted.text
    status_url = api + accepted.json()["status_url"]
    status = wait_for_export(status_url)
    assert status["done"] == status["total"] > 0
    file = httpx.get(api + status["file_url"], timeout=60)
    assert file.status_code == 200
    path = tmp_path / "job.tif"
    path.write_bytes(file.content)
    _validate_cog(path)
    _check_export_matches_tiles(stack, path, 6)


def test_cli_export(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "cli.tif"
    result = _cli(
        stack,
        "export",
        "--world",
        "testland",
        "--bbox",
        "-20,0,-10,8",
        "--zoom",
        "6",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    _validate_cog(out)
    _check_export_matches_tiles(stack, out, 6)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"bbox": [1, 2, 3], "zoom": 5}, 400, "body.bbox: List should have at least 4"),
        ({"bbox": ["a", 2, 3, 4], "zoom": 5}, 400, "invalid request"),
        ({"bbox": [5, 0, 0, 5], "zoom": 5}, 400, "inverted"),
        ({"bbox": [100, 60, 110, 70], "zoom": 5}, 400, "does not overlap"),
        ({"bbox": [-10, -8, 0, 0], "zoom": 12}, 400, "outside world"),
        ({"bbox": [-10, -8, 0, 0], "zoom": 5, "format": "png"}, 400, "invalid request"),
        ({"bbox": [-40, -30, 40, 30], "zoom": 9}, 413, "exceeds the limit of 100 Mpx"),
        ({"world": "atlantis", "bbox": [-10, -8, 0, 0], "zoom": 5}, 404, "unknown world"),
    ],
)
def test_export_errors(stack: Stack, body: dict, status: int, message: str) -> None:
    jobs_before = stack.jobs_added()
    response = httpx.post(
        f"{stack.base_url}/export", json={"world": "testland", **body}, timeout=30
    )
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert stack.jobs_added() == jobs_before
