"""GIS and offline use: WMTS read by GDAL, MBTiles/PMTiles packages read by independent
readers (sqlite3, the pmtiles package), the MapLibre style, and the offline PMTiles viewer."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from PIL import Image
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import deserialize_header
from rasterio.windows import Window

from core.bbox import tiles_in
from tests.stack import Stack, free_port
from tests.test_serving import CATALOG
from tests.test_viewers_seed_export import CHROMIUM, CHROMIUM_FLAGS, _cli, wait_for_export

pytestmark = pytest.mark.integration
ORIGIN = 20037508.342789244
BBOX = [-10, -8, 0, 0]  # inside testland (-40..40, -30..30)


def _tile_pixels(stack: Stack, z: int, x: int, y: int) -> np.ndarray:
    response = httpx.get(f"{stack.base_url}/worlds/testland/{z}/{x}/{y}.png", timeout=120)
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_gdal_reads_the_wmts_layer_with_the_xyz_tiles_pixels(stack: Stack) -> None:
    url = f"WMTS:{stack.base_url}/worlds/testland/WMTSCapabilities.xml"
    with rasterio.open(url) as dataset:
        assert dataset.crs.to_epsg() == 3857
        # Full resolution is the world's highest zoom; lower zooms are its overviews.
        resolution = dataset.transform.a
        assert resolution == pytest.approx(2 * ORIGIN / (256 * 2**9))
        assert len(dataset.overviews(1)) == 9 - 2
        px0 = round((dataset.transform.c + ORIGIN) / resolution)
        py0 = round((ORIGIN - dataset.transform.f) / resolution)
        tx, ty = px0 // 256 + 40, py0 // 256 + 30
        # A window straddling four tiles, starting mid-tile.
        window = Window(tx * 256 + 128 - px0, ty * 256 + 64 - py0, 256, 256)
        read = dataset.read(window=window)[:3].transpose(1, 2, 0)
    mosaic = np.zeros((512, 512, 3), np.uint8)
    for dy in (0, 1):
        for dx in (0, 1):
            mosaic[dy * 256 : dy * 256 + 256, dx * 256 : dx * 256 + 256] = _tile_pixels(
                stack, 9, tx + dx, ty + dy
            )
    assert np.array_equal(read, mosaic[64:320, 128:384])


def test_wmts_routes(stack: Stack) -> None:
    default = httpx.get(f"{stack.base_url}/WMTSCapabilities.xml", timeout=30)
    assert default.status_code == 200
    assert default.headers["content-type"] == "application/xml"
    assert b"<ows:Identifier>testland</ows:Identifier>" in default.content
    missing = httpx.get(f"{stack.base_url}/worlds/atlantis/WMTSCapabilities.xml", timeout=30)
    assert missing.status_code == 404 and "unknown world" in missing.json()["error"]


def test_style_json_is_a_raster_style_on_the_tilejson(stack: Stack) -> None:
    style = httpx.get(f"{stack.base_url}/worlds/testland/style.json", timeout=30).json()
    assert style["version"] == 8
    source = style["sources"]["synthtiles"]
    assert source["type"] == "raster" and "not a real place" in source["attribution"]
    tilejson = httpx.get(source["url"], timeout=30).json()
    assert tilejson["tiles"][-1].endswith("/worlds/testland/{z}/{x}/{y}.png")
    assert [layer["source"] for layer in style["layers"] if layer["type"] == "raster"] == [
        "synthtiles"
    ]
    default = httpx.get(f"{stack.base_url}/style.json", timeout=30).json()
    assert default["metadata"]["synthtiles:world"] == "testland"


def _served(stack: Stack, z: int, x: int, y: int) -> bytes:
    response = httpx.get(f"{stack.base_url}/worlds/testland/{z}/{x}/{y}.png", timeout=120)
    assert response.status_code == 200
    return response.content


def _mbtiles_tiles(path: Path) -> tuple[dict[str, str], dict[tuple[int, int, int], bytes]]:
    with sqlite3.connect(path) as db:
        metadata = dict(db.execute("SELECT name, value FROM metadata"))
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        tiles = {(z, x, (1 << z) - 1 - row): bytes(data) for z, x, row, data in rows}
    return metadata, tiles


def _pmtiles_tiles(path: Path) -> tuple[dict, dict[tuple[int, int, int], bytes]]:
    with path.open("rb") as f:
        get = MmapSource(f)
        header = deserialize_header(get(0, 127))
        assert header["tile_type"].value == 2  # PNG
        metadata = Reader(get).metadata()
        metadata.update(minzoom=header["min_zoom"], maxzoom=header["max_zoom"])
        tiles = dict(all_tiles(get))
    return metadata, tiles


def _check_package(stack: Stack, path: Path, fmt: str, minzoom: int, maxzoom: int) -> None:
    metadata, tiles = (_mbtiles_tiles if fmt == "mbtiles" else _pmtiles_tiles)(path)
    assert int(metadata["minzoom"]) == minzoom and int(metadata["maxzoom"]) == maxzoom
    assert "not a real place" in metadata["attribution"]
    assert metadata["format"] == "png"
    world = CATALOG.get("testland")
    expected = {(z, x, y) for z in range(minzoom, maxzoom + 1) for x, y in tiles_in(world, BBOX, z)}
    assert set(tiles) == expected
    for (z, x, y), data in tiles.items():
        assert data == _served(stack, z, x, y), (z, x, y)  # byte-equal to the served PNG


@pytest.mark.parametrize("fmt", ["mbtiles", "pmtiles"])
def test_package_export_holds_the_served_tiles(stack: Stack, tmp_path: Path, fmt: str) -> None:
    body = {"world": "testland", "bbox": BBOX, "format": fmt, "minzoom": 3, "maxzoom": 6}
    response = httpx.post(f"{stack.base_url}/export", json=body, timeout=300)
    assert response.status_code == 200, response.text
    assert f'filename="testland-z3-6.{fmt}"' in response.headers["content-disposition"]
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(response.content)
    _check_package(stack, path, fmt, 3, 6)
    if fmt == "mbtiles":
        _check_gdal_reads_mbtiles(stack, path, 6)


def _check_gdal_reads_mbtiles(stack: Stack, path: Path, maxzoom: int) -> None:
    """GDAL's MBTiles driver (what QGIS uses) sees the highest zoom's pixels."""
    with rasterio.open(path) as dataset:
        assert dataset.driver == "MBTiles" and dataset.crs.to_epsg() == 3857
        resolution = dataset.transform.a
        assert resolution == pytest.approx(2 * ORIGIN / (256 * 2**maxzoom))
        px0 = round((dataset.transform.c + ORIGIN) / resolution)
        py0 = round((ORIGIN - dataset.transform.f) / resolution)
        pixels = dataset.read()[:3].transpose(1, 2, 0)
    height, width = pixels.shape[:2]
    # The tile under the middle of the package, compared where the two overlap.
    tx, ty = (px0 + width // 2) // 256, (py0 + height // 2) // 256
    gx0, gy0 = max(tx * 256, px0), max(ty * 256, py0)
    gx1, gy1 = min(tx * 256 + 256, px0 + width), min(ty * 256 + 256, py0 + height)
    assert gx1 - gx0 >= 64 and gy1 - gy0 >= 64
    tile = _tile_pixels(stack, maxzoom, tx, ty)
    assert np.array_equal(
        pixels[gy0 - py0 : gy1 - py0, gx0 - px0 : gx1 - px0],
        tile[gy0 - ty * 256 : gy1 - ty * 256, gx0 - tx * 256 : gx1 - tx * 256],
    )


def test_large_package_export_runs_as_a_job(stack: Stack, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    api = stack.start_api(
        SYNTHTILES_EXPORT_DIRECT_MAX_PIXELS="1000", SYNTHTILES_EXPORT_DIR=str(exports)
    )
    body = {"world": "testland", "bbox": BBOX, "format": "pmtiles", "minzoom": 5, "maxzoom": 7}
    accepted = httpx.post(f"{api}/export", json=body, timeout=30)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["format"] == "pmtiles" and accepted.json()["tiles"] > 0
    status_url = api + accepted.json()["status_url"]
    status = wait_for_export(status_url)
    # The file is kept in the store: the other API process hands it out too.
    file = httpx.get(stack.base_url + status["file_url"], timeout=60)
    assert file.status_code == 200
    assert file.headers["content-type"] == "application/vnd.pmtiles"
    assert 'filename="testland-z5-7.pmtiles"' in file.headers["content-disposition"]
    path = tmp_path / "job.pmtiles"
    path.write_bytes(file.content)
    _check_package(stack, path, "pmtiles", 5, 7)
    # Whichever API process's export worker ran it, no scratch, spool or partial file is left.
    for scratch in (exports, stack.tmp / "exports"):
        assert not scratch.exists() or list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"format": "zip", "zoom": 4}, 400, "Input should be 'cog', 'mbtiles', 'pmtiles' or 'dem'"),
        ({"format": "mbtiles", "minzoom": 6, "maxzoom": 4}, 400, "inverted"),
        ({"format": "pmtiles", "minzoom": 1, "maxzoom": 4}, 400, "outside world"),
        ({"format": "pmtiles", "minzoom": 4}, 400, "both minzoom and maxzoom"),
        ({"format": "pmtiles", "zoom": 4, "maxzoom": 5}, 400, "not both"),
        ({"format": "cog", "minzoom": 4, "maxzoom": 5}, 400, "a COG export has one zoom"),
        (
            {"bbox": [-40, -30, 40, 30], "format": "mbtiles", "minzoom": 2, "maxzoom": 9},
            413,
            "exceeds the limit of 100 Mpx",
        ),
    ],
)
def test_package_export_errors(stack: Stack, body: dict, status: int, message: str) -> None:
    jobs_before = stack.jobs_added()
    response = httpx.post(
        f"{stack.base_url}/export", json={"world": "testland", "bbox": BBOX, **body}, timeout=30
    )
    assert response.status_code == status, response.text
    assert message in str(response.json()), response.json()
    assert stack.jobs_added() == jobs_before


def test_cli_package_errors_leave_nothing(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "bad.mbtiles"
    for args, message in (
        (["--format", "mbtiles", "--zoom", "6-4"], "inverted"),
        (["--format", "mbtiles", "--zoom", "four"], "zoom must be N or N-M"),
        (["--format", "mbtiles", "--zoom", "4", "--with-viewer"], "needs --format pmtiles"),
    ):
        result = _cli(
            stack, "export", "--world", "testland", "--bbox", "-10,-8,0,0", *args, "-o", str(out)
        )
        assert result.returncode == 2 and message in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_offline_bundle_opens_without_a_tile_server(stack: Stack, tmp_path: Path) -> None:
    """`export --format pmtiles --with-viewer` gives a folder that shows the imagery from
    file:// (the user picks the file) and from a static server without byte ranges."""
    playwright = pytest.importorskip("playwright.sync_api")
    bundle = tmp_path / "exercise"
    package = bundle / "testland.pmtiles"
    result = _cli(
        stack,
        "export",
        "--world",
        "testland",
        "--bbox",
        "-10,-8,0,0",
        "--format",
        "pmtiles",
        "--zoom",
        "4-6",
        "--with-viewer",
        "-o",
        str(package),
    )
    assert result.returncode == 0, result.stderr
    _check_package(stack, package, "pmtiles", 4, 6)
    assert (bundle / "index.html").is_file()
    assert (bundle / "static/vendor/maplibre/LICENSE.txt").is_file()
    assert (bundle / "static/vendor/pmtiles/LICENSE").is_file()

    port = free_port()
    # Python's http.server ignores Range: the page falls back to reading the whole file.
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=bundle,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            for how in ("file", "http"):
                page = browser.new_page(viewport={"width": 800, "height": 600})
                errors: list[str] = []
                page.on(
                    "console",
                    lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None,
                )
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                if how == "file":
                    page.goto((bundle / "index.html").as_uri())
                    assert "Choose testland.pmtiles" in page.inner_text("#open-message")
                    page.set_input_files("#package-file", str(package))
                else:
                    page.goto(f"http://127.0.0.1:{port}/index.html")
                page.wait_for_function(
                    "window.synthtilesMap && synthtilesMap.loaded()"
                    " && synthtilesMap.areTilesLoaded()",
                    timeout=60_000,
                )
                page.wait_for_timeout(300)
                shot = tmp_path / f"offline-{how}.png"
                page.screenshot(path=str(shot))
                text = page.inner_text("body")
                assert errors == [], (how, errors)
                assert "not a real place" in text
                assert not page.is_visible("#open")
                # The imagery itself is drawn: the middle of the view is no flat colour.
                pixels = np.asarray(Image.open(shot).convert("RGB"))[150:450, 200:600]
                assert pixels.std() > 5, how
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
