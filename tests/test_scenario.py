"""Scenario files: features put where the file says (measured on served PNGs), bad files
stopping the service at start with the feature named, changed files refused."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from core.plan.scenario import ScenarioError, load_scenario
from core.store import FileTileStore, WorldChanged, check_world_records, world_record
from core.world import World, WorldCatalog
from tests.stack import ROOT, WORLDS_FILE, Stack

SCENARIO = Path(__file__).parent / "data" / "scenario.geojson"
ZOOM, X0, Y0 = 13, 4346, 4118  # a 2x2 block of tiles holding the scenario's features


def _pixel(lon: float, lat: float) -> tuple[float, float]:
    """Pixel position in the 2x2 block's mosaic."""
    return _pixel_in(ZOOM, X0, Y0, lon, lat)


def _box(west: float, south: float, east: float, north: float, inset: int = 3):
    x0, y0 = _pixel(west, north)
    x1, y1 = _pixel(east, south)
    return slice(int(y0) + inset, int(y1) - inset), slice(int(x0) + inset, int(x1) - inset)


@pytest.fixture(scope="module")
def mosaic(stack: Stack) -> np.ndarray:
    return _fetch_block(stack, ZOOM, X0, Y0, "scenario-mosaic.png", timeout=300)


def _fetch_block(
    stack: Stack, zoom: int, x0: int, y0: int, name: str, timeout: float = 600
) -> np.ndarray:
    """The served 2x2 block of scenarioland tiles whose top-left tile is (x0, y0), saved
    beside the stack for a person to look at."""
    image = np.zeros((512, 512, 3), np.uint8)
    for dx in (0, 1):
        for dy in (0, 1):
            url = f"{stack.base_url}/worlds/scenarioland/{zoom}/{x0 + dx}/{y0 + dy}.png"
            response = httpx.get(url, timeout=timeout)
            assert response.status_code == 200, response.text
            tile = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
            image[dy * 256 : (dy + 1) * 256, dx * 256 : (dx + 1) * 256] = tile
    Image.fromarray(image).save(stack.tmp / name)
    return image


def _lum(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@pytest.mark.integration
def test_the_lake_is_darker_and_bluer_than_the_fields_around_it(mosaic: np.ndarray) -> None:
    lake = mosaic[_box(11.010, -1.032, 11.022, -1.020)].reshape(-1, 3).astype(float)
    fields_box = mosaic[_box(10.995, -1.045, 11.040, -1.005)].astype(float)
    rows, cols = _box(11.010, -1.032, 11.022, -1.020, inset=-4)
    fields_mask = np.ones(fields_box.shape[:2], bool)
    top, left = (
        _box(10.995, -1.045, 11.040, -1.005)[0].start,
        _box(10.995, -1.045, 11.040, -1.005)[1].start,
    )
    fields_mask[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] = False
    fields = fields_box[fields_mask]
    assert _lum(lake).mean() < _lum(fields).mean() - 15
    assert (lake[:, 2] - lake[:, 0]).mean() > (fields[:, 2] - fields[:, 0]).mean() + 10


@pytest.mark.integration
def test_the_forest_is_darker_than_the_fields(mosaic: np.ndarray) -> None:
    forest = mosaic[_box(11.048, -1.045, 11.068, -1.005)]
    fields = mosaic[_box(10.995, -1.045, 11.008, -1.035)]
    assert _lum(forest).mean() < _lum(fields).mean() - 10


def _detail(rgb: np.ndarray) -> float:
    lum = _lum(rgb)
    return float(np.abs(np.diff(lum, axis=0)).mean() + np.abs(np.diff(lum, axis=1)).mean())


@pytest.mark.integration
def test_the_town_is_more_textured_than_the_forest(mosaic: np.ndarray) -> None:
    cx, cy = _pixel(11.010, -0.985)
    town = mosaic[int(cy) - 25 : int(cy) + 25, int(cx) - 25 : int(cx) + 25]
    forest = mosaic[_box(11.048, -1.045, 11.068, -1.005)]
    assert _detail(town) > 1.3 * _detail(forest)


@pytest.mark.integration
def test_the_road_is_a_visible_line(mosaic: np.ndarray) -> None:
    _, row = _pixel(11.0, -1.000)
    row = round(row - 0.5)
    # Across the grassland west of the fields and town (columns of the road's west end).
    x0, _ = _pixel(10.99, -1.0)
    x1, _ = _pixel(11.03, -1.0)
    cols = slice(int(x0) + 2, int(x1))
    on = _lum(mosaic[row - 1 : row + 2, cols]).mean(0)
    off = _lum(
        np.concatenate([mosaic[row - 6 : row - 3, cols], mosaic[row + 4 : row + 7, cols]])
    ).mean(0)
    assert np.abs(on - off).mean() > 6


def _block_at(stack: Stack, zoom: int, lon: float, lat: float) -> tuple[np.ndarray, int, int]:
    """The 2x2 block of served tiles at ``zoom`` whose centre is nearest (lon, lat), with
    the tile indices of its top-left tile."""
    n = 2**zoom
    s = math.sin(math.radians(lat))
    fx = (lon + 180.0) / 360.0 * n
    fy = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n
    x0, y0 = round(fx) - 1, round(fy) - 1
    image = _fetch_block(stack, zoom, x0, y0, f"scenario-z{zoom}-{lon}-{lat}.png")
    return image, x0, y0


def _pixel_in(zoom: int, x0: int, y0: int, lon: float, lat: float) -> tuple[float, float]:
    n = 256 * 2**zoom
    s = math.sin(math.radians(lat))
    x = (lon + 180.0) / 360.0 * n - x0 * 256
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n - y0 * 256
    return x, y


@pytest.mark.integration
def test_the_road_is_a_visible_line_at_z15(stack: Stack) -> None:
    """A 9 m road at 4.8 m/px: a line that stands out from the ground on both sides."""
    image, x0, y0 = _block_at(stack, 15, 11.005, -1.0)
    _, row = _pixel_in(15, x0, y0, 11.005, -1.0)
    row = round(row - 0.5)
    on = _lum(image[row - 1 : row + 2, 20:-20]).mean(0)
    above, below = image[row - 9 : row - 6, 20:-20], image[row + 7 : row + 10, 20:-20]
    off = _lum(np.concatenate([above, below])).mean(0)
    assert np.abs(on - off).mean() > 12


@pytest.mark.integration
def test_the_river_is_a_dark_line_at_z15(stack: Stack) -> None:
    """A 40 m river at 4.8 m/px (about 8 pixels): water, darker than the fields beyond its
    gallery forest and bluer than the trees on its banks (a silty river can be as dark as
    dense riparian canopy, but never as green)."""
    image, x0, y0 = _block_at(stack, 15, 11.044, -0.99)
    col, _ = _pixel_in(15, x0, y0, 11.044, -0.99)
    col = round(col - 0.5)
    rows = slice(20, -20)

    def band(offset: int, width: int) -> np.ndarray:
        left = image[rows, col - offset - width : col - offset]
        right = image[rows, col + offset : col + offset + width]
        return np.concatenate([left, right], 1).astype(np.float64)

    river = image[rows, col - 2 : col + 3].astype(np.float64)
    banks, fields = band(12, 5), band(35, 10)
    assert _lum(river).mean() < _lum(fields).mean() - 15
    blueness = (river[..., 2] - river[..., 0]).mean()
    assert blueness > (banks[..., 2] - banks[..., 0]).mean() + 6


@pytest.mark.integration
def test_the_river_is_a_dark_line(mosaic: np.ndarray) -> None:
    col, _ = _pixel(11.044, -1.0)
    col = round(col - 0.5)
    _, y0 = _pixel(11.044, -0.97)
    _, y1 = _pixel(11.044, -1.05)
    rows = slice(int(y0) + 2, int(y1) - 2)
    on = _lum(mosaic[rows, col - 1 : col + 2]).mean()
    off = _lum(
        np.concatenate([mosaic[rows, col - 7 : col - 4], mosaic[rows, col + 5 : col + 8]], 1)
    ).mean()
    assert on < off - 10


@pytest.mark.integration
def test_the_scenario_town_is_in_the_plan_features(stack: Stack) -> None:
    response = httpx.get(
        f"{stack.base_url}/worlds/scenarioland/features.geojson",
        params={"bbox": "10.98,-1.06,11.08,-0.96"},
        timeout=120,
    )
    names = {f["properties"].get("name") for f in response.json()["features"]}
    assert "Port Carana" in names


@pytest.mark.integration
def test_the_worlds_definition_is_recorded_beside_its_tiles(stack: Stack, mosaic) -> None:
    record = json.loads((stack.store_root / "scenarioland" / ".world.json").read_text())
    assert record["scenario_sha256"] == load_scenario(SCENARIO).sha256
    assert record["layout"] == "plan-island" and record["seed"] == 11


# ---------------------------------------------------------------- bad files


def _write(tmp: Path, document) -> Path:
    path = tmp / "bad.geojson"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def _feature(geometry: dict, **props) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


SQUARE = [[[11.0, -1.0], [11.01, -1.0], [11.01, -0.99], [11.0, -0.99], [11.0, -1.0]]]
GOOD = _feature({"type": "Polygon", "coordinates": SQUARE}, landcover="forest")


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ("{not json", "not JSON"),
        ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    GOOD,
                    _feature({"type": "Polygon", "coordinates": SQUARE}, landcover="lava"),
                ],
            },
            "feature 1: landcover 'lava'",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    _feature(
                        {"type": "LineString", "coordinates": [[11, -1], [11.1, -1]]}, kind="canal"
                    )
                ],
            },
            "feature 0: kind 'canal'",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    GOOD,
                    GOOD,
                    _feature(
                        {
                            "type": "Polygon",
                            "coordinates": [[[11, -1], [11.1, -1], [11.1, -0.9], [11, -0.9]]],
                        },
                        landcover="water",
                    ),
                ],
            },
            "feature 2, ring 0: not closed",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [_feature({"type": "Point", "coordinates": [200, 0]}, kind="town")],
            },
            "feature 0: position [200, 0] is outside",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    _feature({"type": "LineString", "coordinates": [[11, -1]]}, kind="road")
                ],
            },
            "feature 0: needs a list of at least 2 positions",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    _feature({"type": "Point", "coordinates": [11, -1]}, kind="town", population=-5)
                ],
            },
            "feature 0: population must be a positive integer",
        ),
    ],
)
def test_bad_scenario_files_name_the_feature_and_the_fault(
    tmp_path: Path, document, words: str
) -> None:
    path = _write(tmp_path, document)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert words in str(info.value)
    # And a worlds file naming it cannot be loaded: nothing is served from it.
    worlds = tmp_path / "worlds.toml"
    worlds.write_text(
        'default = "w"\n[[worlds]]\nid = "w"\nseed = 1\nmodel = "procedural@0.1.0"\n'
        "min_zoom = 10\nmax_zoom = 12\nextent = [10.0, -2.0, 11.5, -0.5]\n"
        'layout = "plan"\nscenario = "bad.geojson"\n'
    )
    with pytest.raises(ScenarioError, match=re.escape(words.split(":")[0])):
        WorldCatalog.load(worlds)


def test_serve_refuses_to_start_on_a_bad_scenario(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {"type": "FeatureCollection", "features": [GOOD, {"type": "Feature", "geometry": None}]},
    )
    worlds = tmp_path / "worlds.toml"
    worlds.write_text(
        WORLDS_FILE.read_text().replace('scenario = "scenario.geojson"', 'scenario = "bad.geojson"')
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "SYNTHTILES_WORLDS_FILE": str(worlds),
            "SYNTHTILES_STORE_ROOT": str(tmp_path / "store"),
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "feature 1: needs a geometry object" in result.stderr + result.stdout
    assert not (tmp_path / "store" / "scenarioland").exists()


def test_a_scenario_needs_a_plan_world() -> None:
    with pytest.raises(ValueError, match="scenario needs layout"):
        World(
            id="x", seed=1, model="procedural@0.1.0", min_zoom=1, max_zoom=2, scenario="a.geojson"
        )


def test_a_changed_scenario_is_refused_once_the_world_has_tiles(tmp_path: Path) -> None:
    store = FileTileStore(tmp_path)
    catalog = WorldCatalog.load(WORLDS_FILE)
    world = catalog.get("scenarioland")
    assert world is not None
    changed = world.model_copy(update={"scenario_sha256": "0" * 64})
    check_world_records(store, [world])  # no tiles: nothing to protect, nothing written
    check_world_records(store, [changed])
    assert store.read_record(world.id) is None
    # Storing the first tile records the definition (as the producer does).
    store.write_record(world.id, world_record(world))
    store.put_if_absent(world.id, 13, 1, 1, b"png")
    check_world_records(store, [world])
    with pytest.raises(WorldChanged, match=r"scenario file changed.*new id"):
        check_world_records(store, [changed])


def test_a_changed_plan_version_is_refused_and_older_records_still_match(tmp_path: Path) -> None:
    """A world's planning fixes its pixels: moving a world that has tiles to another plan
    version is refused. Records written before worlds had a plan version hold none, and
    a world that names none still matches them."""
    store = FileTileStore(tmp_path)
    world = WorldCatalog.load(WORLDS_FILE).get("planland")
    assert world is not None and world.plan_version is None
    record = world_record(world)
    assert "plan_version" not in record
    store.write_record(world.id, record)
    store.put_if_absent(world.id, 11, 1, 1, b"png")
    check_world_records(store, [world])
    with pytest.raises(WorldChanged, match=r"plan_version changed.*new id"):
        check_world_records(store, [world.model_copy(update={"plan_version": 3})])
    assert world_record(world.model_copy(update={"plan_version": 3}))["plan_version"] == 3


def test_serve_names_the_world_and_file_of_an_invalid_world(tmp_path: Path) -> None:
    # A scenario (a good one, whatever its file name) on a world without a plan layout:
    # one clear line, no traceback.
    _write(tmp_path, {"type": "FeatureCollection", "features": [GOOD]})
    worlds = tmp_path / "worlds.toml"
    worlds.write_text(
        '[[worlds]]\nid = "exercise"\nseed = 5\nmodel = "procedural@0.1.0"\n'
        'min_zoom = 10\nmax_zoom = 12\nscenario = "bad.geojson"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "SYNTHTILES_WORLDS_FILE": str(worlds), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"{worlds}: world 'exercise': a scenario needs layout" in result.stderr
