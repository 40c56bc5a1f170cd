"""DEM export (format "dem", core/exports/dem.py): a Float32 COG in metres on the zoom's pixel
grid, read by GDAL with the right CRS, transform and nodata, fit for `gdaldem`; through the
API (direct and as a job) and the CLI."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from core.bbox import AreaError
from core.exports import FORMATS, plan_export
from core.exports.dem import NODATA, DemExport
from core.layers.terrain import terrain_region
from core.plans import world_plan
from core.world import WorldCatalog
from tests.conftest import require_redis
from tests.stack import WORLDS_FILE, Stack
from tests.test_viewers_seed_export import _cli, wait_for_export

CATALOG = WorldCatalog.load(WORLDS_FILE)
WORLD = CATALOG.get("planland")
assert WORLD is not None
ORIGIN = 20037508.342789244
# The island's west coast: about a third sea, the rest land (438 x 438 px at z11).
BBOX = (10.2, -1.3, 10.5, -1.0)
ZOOM = 11
GDALDEM = shutil.which("gdaldem")


@pytest.fixture(scope="module", autouse=True)
def _plan_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Planland's plan is cached in a temporary folder, not the repository's."""
    world_plan(WORLD, tmp_path_factory.mktemp("plans"))


def _plan(sea_depth: bool | None = None) -> DemExport:
    plan = plan_export(WORLD, BBOX, "dem", ZOOM, ZOOM, 10**9, {"sea_depth": sea_depth})
    assert isinstance(plan, DemExport)
    return plan


@pytest.fixture(scope="module")
def dem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _plan().write(lambda z, x, y: b"", tmp_path_factory.mktemp("dem") / "dem.tif", "")


def test_gdal_reads_crs_transform_nodata_and_the_terrain_heights(dem: Path) -> None:
    plan = _plan()
    assert cog_validate(str(dem))[0], "a valid Cloud-Optimized GeoTIFF"
    with rasterio.open(dem) as dataset:
        assert dataset.crs.to_epsg() == 3857
        assert dataset.dtypes == ("float32",) and dataset.count == 1
        assert dataset.nodata == NODATA
        # The XYZ pixel grid of the zoom: imagery COGs and tiles line up pixel for pixel.
        res = 2 * ORIGIN / (256 * 2**ZOOM)
        t = dataset.transform
        assert (t.a, t.e, t.b, t.d) == (pytest.approx(res), pytest.approx(-res), 0, 0)
        assert t.c == pytest.approx(plan.px0 * res - ORIGIN)
        assert t.f == pytest.approx(ORIGIN - plan.py0 * res)
        assert (dataset.width, dataset.height) == (plan.width, plan.height)
        assert dataset.overviews(1), "internal overviews"
        assert dataset.tags()["SYNTHETIC"] == "true"
        heights = dataset.read(1)
    region = terrain_region(WORLD, ZOOM, plan.px0, plan.py0, plan.width, plan.height)
    assert 0.1 < region.sea.mean() < 0.9
    assert (heights[region.sea] == NODATA).all()
    np.testing.assert_array_equal(heights[~region.sea], region.heights[~region.sea])
    assert heights[~region.sea].min() > -50 and heights[~region.sea].max() > 100


def test_the_sea_floor_with_sea_depth(tmp_path: Path) -> None:
    plan = _plan(sea_depth=True)
    assert plan.options == {"sea_depth": True} and _plan().options == {}
    out = plan.write(lambda z, x, y: b"", tmp_path / "floor.tif", "")
    with rasterio.open(out) as dataset:
        heights = dataset.read(1)
        assert dataset.tags()["SYNTHTILES_SEA"] == "sea floor"
    region = terrain_region(WORLD, ZOOM, plan.px0, plan.py0, plan.width, plan.height)
    assert (heights != NODATA).all()
    np.testing.assert_array_equal(heights[region.sea], region.ground[region.sea])
    assert heights[region.sea].max() < 0 < heights[~region.sea].min()


@pytest.mark.skipif(GDALDEM is None, reason="needs gdal-bin (apt-get install gdal-bin)")
@pytest.mark.parametrize("mode", ["hillshade", "slope"])
def test_gdaldem_runs_on_it(dem: Path, tmp_path: Path, mode: str) -> None:
    out = tmp_path / f"{mode}.tif"
    done = subprocess.run(
        [str(GDALDEM), mode, str(dem), str(out), "-compute_edges"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with rasterio.open(out) as dataset:
        values = dataset.read(1, masked=True)
    assert values.count() > 0.3 * values.size  # the land (the sea is nodata)
    assert float(values.max()) > float(values.min())  # relief, not a flat plate


def test_a_dem_needs_no_model_tiles_and_one_zoom() -> None:
    assert FORMATS["dem"] is DemExport
    plan = _plan()
    assert plan.units() == []
    assert plan.filename == f"planland-z{ZOOM}-{plan.width}x{plan.height}.dem.tif"
    with pytest.raises(AreaError, match="one zoom"):
        plan_export(WORLD, BBOX, "dem", 10, 11, 10**9)
    procedural = CATALOG.get("testland")
    assert procedural is not None
    with pytest.raises(AreaError, match="no plan relief"):
        plan_export(procedural, (-10, -8, 0, 0), "dem", 5, 5, 10**9)
    with pytest.raises(AreaError, match="takes no options"):
        plan_export(WORLD, BBOX, "cog", ZOOM, ZOOM, 10**9, {"sea_depth": True})


# -- through the API and the CLI -----------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An API (with its export worker) and no generation worker: DEMs need none."""
    require_redis()
    tmp = tmp_path_factory.mktemp("dem-api")
    deployment = Stack(tmp, f"synthtiles-test-{uuid.uuid4().hex[:8]}")
    try:
        deployment.base_url = deployment.start_api()
        yield deployment
    finally:
        deployment.stop()


def _post(base: str, **body: object) -> httpx.Response:
    request = {"world": "planland", "bbox": list(BBOX), "format": "dem", "zoom": ZOOM, **body}
    return httpx.post(f"{base}/export", json=request, timeout=300)


@pytest.mark.integration
def test_a_small_dem_is_answered_directly(api: Stack, dem: Path, tmp_path: Path) -> None:
    response = _post(api.base_url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/tiff; application=geotiff"
    assert f'filename="{_plan().filename}"' in response.headers["content-disposition"]
    out = tmp_path / "api.tif"
    out.write_bytes(response.content)
    with rasterio.open(out) as served, rasterio.open(dem) as written:
        assert served.transform == written.transform and served.nodata == NODATA
        np.testing.assert_array_equal(served.read(1), written.read(1))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"format": "cog", "sea_depth": True}, "format 'cog' takes no options"),
        ({"zoom": None, "minzoom": 10, "maxzoom": 11}, "one zoom"),
        ({"world": "testland", "bbox": [-10, -8, 0, 0], "zoom": 5}, "no plan relief"),
        ({"sea_depth": "deep"}, "sea_depth"),
    ],
)
def test_bad_dem_requests_are_400s(api: Stack, body: dict, words: str) -> None:
    response = _post(api.base_url, **body)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]


@pytest.mark.integration
def test_a_large_dem_runs_as_a_job_with_its_options(api: Stack, tmp_path: Path) -> None:
    base = api.start_api(SYNTHTILES_EXPORT_DIRECT_MAX_PIXELS="1000")
    queued = _post(base, sea_depth=True)
    assert queued.status_code == 202, queued.text
    assert queued.json()["units"] == 0
    plain = _post(base)
    assert plain.json()["job"] != queued.json()["job"]  # the option is part of the job id
    status = wait_for_export(f"{base}{queued.json()['status_url']}")
    assert status["request"]["options"] == {"sea_depth": True}
    file = httpx.get(f"{base}{status['file_url']}", timeout=120)
    assert file.status_code == 200
    assert file.headers["content-type"] == DemExport.media_type
    out = tmp_path / "job.tif"
    out.write_bytes(file.content)
    with rasterio.open(out) as dataset:
        heights = dataset.read(1)
        assert dataset.tags()["SYNTHTILES_SEA"] == "sea floor"
    assert (heights != NODATA).all() and heights.min() < 0


@pytest.mark.integration
def test_the_cli_writes_the_same_dem(api: Stack, dem: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.tif"
    bbox = ",".join(map(str, BBOX))
    args = ["export", "--world", "planland", "--format", "dem", "--bbox", bbox]
    done = _cli(api, *args, "--zoom", str(ZOOM), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "Float32 metres" in done.stdout
    with rasterio.open(out) as written, rasterio.open(dem) as expected:
        np.testing.assert_array_equal(written.read(1), expected.read(1))
    refused = _cli(api, *args, "--zoom", "10-11", "-o", str(tmp_path / "no.tif"))
    assert refused.returncode == 2 and "one zoom" in refused.stderr
    floor = _cli(api, *args, "--zoom", str(ZOOM), "--sea-depth", "-o", str(out))
    assert floor.returncode == 0, floor.stderr
    with rasterio.open(out) as written:
        assert written.tags()["SYNTHTILES_SEA"] == "sea floor"
