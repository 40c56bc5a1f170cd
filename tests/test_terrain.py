"""Elevation tiles (core/layers/terrain.py, app/routers/terrain.py): heights are the plan's
relief as imagery is drawn from it (lakes flat at their surface, rivers below their banks,
the sea at 0 m), encoded as Terrain-RGB or Terrarium, served and cached like imagery tiles."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from core.layers.terrain import (
    NoPlanRelief,
    decode_heights,
    encode_heights,
    terrain_heights,
    terrain_region,
    terrain_tile,
)
from core.plan.plan import PlanChunk
from core.plan.raster import PlanRaster, rasterize
from core.plans import world_plan
from core.world import WorldCatalog
from tests.conftest import require_redis
from tests.stack import WORLDS_FILE, Stack

CATALOG = WorldCatalog.load(WORLDS_FILE)
WORLD = CATALOG.get("planland")  # a small plan island (seed 11), zooms 10-14
assert WORLD is not None
SIZE = WORLD.tile_size
MAPBOX_STEP_M = 0.1  # Terrain-RGB's resolution
TERRARIUM_STEP_M = 1 / 256


@pytest.fixture(scope="module")
def chunk(tmp_path_factory: pytest.TempPathFactory) -> PlanChunk:
    # Planned once for the module, cached in a temporary folder (not the repository's).
    plan = world_plan(WORLD, tmp_path_factory.mktemp("plans"))
    assert plan is not None
    return plan.build_all()[0]


def _raster(z: int, x: int, y: int) -> PlanRaster:
    plan = world_plan(WORLD)
    assert plan is not None
    return rasterize(plan, z, x * SIZE, y * SIZE, SIZE, SIZE, SIZE)


def _decoded(png: bytes, encoding: str = "mapbox") -> np.ndarray:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return decode_heights(rgb, encoding)  # type: ignore[arg-type]


def _lake_tile(chunk: PlanChunk, z: int) -> tuple[int, int]:
    """The tile at z over the middle of the plan's largest lake (cells far from a shore)."""
    level = chunk.water_level
    lake = np.isfinite(level) & (level > 0)
    assert lake.any(), "planland has a lake"
    inland = ndimage.distance_transform_edt(lake)
    row, col = np.unravel_index(int(np.argmax(inland)), inland.shape)
    cells_per_tile = 2 ** (15 - z)  # plan cells are zoom-15 pixels
    return (chunk.window.i0 + col) // cells_per_tile, (chunk.window.j0 + row) // cells_per_tile


def test_heights_are_the_relief_imagery_is_shaded_with(chunk: PlanChunk) -> None:
    for z in (10, 12, 14):
        x, y = _lake_tile(chunk, z)
        region = terrain_region(WORLD, z, x * SIZE, y * SIZE, SIZE, SIZE)
        raster = _raster(z, x, y)
        # The same floats at the same pixels: the ground under terrain tiles is the
        # elevation the imagery's hillshade and water are computed from.
        np.testing.assert_array_equal(region.ground, raster.elevation)
        dry = (raster.water < 0.5) & (raster.river == 0)
        np.testing.assert_array_equal(region.heights[dry], raster.elevation[dry])


def test_a_lake_is_flat_at_its_surface(chunk: PlanChunk) -> None:
    z = 12
    x, y = _lake_tile(chunk, z)
    raster = _raster(z, x, y)
    lake = (raster.water > 0.5) & ~raster.sea & (raster.river == 0)
    assert lake.sum() > 1000, "the tile lies over the lake"
    surface = raster.elevation + raster.depth  # the water level the imagery draws
    for encoding, step in (("mapbox", MAPBOX_STEP_M), ("terrarium", TERRARIUM_STEP_M)):
        decoded = _decoded(terrain_tile(WORLD, z, x, y, encoding), encoding)
        np.testing.assert_allclose(decoded[lake], surface[lake], atol=step / 2 + 1e-3)
        # Flat: one spill level (the plan's surface falls by mm per cell towards its outlet).
        assert np.ptp(decoded[lake]) <= 0.1
        # ... and under it the lake bed is lower than that surface.
        assert (raster.elevation[lake] < decoded[lake]).all()


def _river_tile(chunk: PlanChunk, z: int) -> tuple[int, int]:
    """A tile at z on a river's course, away from lakes and the sea."""
    level = chunk.water_level
    for index in range(len(chunk.rivers)):
        if chunk.rivers.kinds[index] != "river":
            continue
        points, _ = chunk.rivers.line(index)
        for px, py in points[len(points) // 4 :: 40]:
            col, row = int(px) - chunk.window.i0, int(py) - chunk.window.j0
            near = level[max(row - 3, 0) : row + 4, max(col - 3, 0) : col + 4]
            if not np.isfinite(near).any():
                cells_per_tile = 2 ** (15 - z)
                return int(px) // cells_per_tile, int(py) // cells_per_tile
    raise AssertionError("planland has a river away from water")


@pytest.mark.parametrize("z", [12, 14])
def test_rivers_are_lower_than_their_banks(chunk: PlanChunk, z: int) -> None:
    x, y = _river_tile(chunk, z)
    raster = _raster(z, x, y)
    heights = _decoded(terrain_tile(WORLD, z, x, y))
    river = (raster.river > 0.5) & (raster.water < 0.5)
    banks = (raster.river == 0) & (raster.water < 0.5)
    assert river.sum() > 20, "the tile shows the river"
    # The lowest bank within 2 px of each river pixel (inf where there is none).
    lowest_bank = ndimage.minimum_filter(np.where(banks, heights, np.inf), size=5)
    beside = river & np.isfinite(lowest_bank)
    assert beside.sum() > 10
    assert (heights[beside] < lowest_bank[beside]).all()
    # Without the cut, the plan's relief alone would not always have it so: the rivers
    # follow the plan grid's drainage, not the fine relief.
    ground_bank = ndimage.minimum_filter(np.where(banks, raster.elevation, np.inf), size=5)
    assert (raster.elevation[beside] < ground_bank[beside]).mean() < 1.0


def _coast_tile(z: int) -> tuple[int, int]:
    """The first tile from the island's west edge, half way down, that shows the coast."""
    min_x, min_y, max_x, max_y = WORLD.tile_range(z)
    y = (min_y + max_y) // 2
    for x in range(min_x, max_x + 1):
        raster = _raster(z, x, y)
        if 0.05 < ((raster.water > 0.5) & raster.sea).mean() < 0.95:
            return x, y
    raise AssertionError("planland has a coast")


def test_the_sea_is_at_sea_level_and_the_land_above_it() -> None:
    z = 10
    x, y = _coast_tile(z)
    region = terrain_region(WORLD, z, x * SIZE, y * SIZE, SIZE, SIZE)
    raster = _raster(z, x, y)
    sea = (raster.water > 0.5) & raster.sea
    np.testing.assert_array_equal(region.sea, sea)
    decoded = _decoded(terrain_tile(WORLD, z, x, y))
    assert (decoded[sea] == 0.0).all()
    assert (region.ground[sea] < 0).all()  # the sea floor, for a DEM that asks for it
    assert (decoded[raster.water < 0.5] >= -MAPBOX_STEP_M).all()


def test_a_tile_equals_the_same_area_of_a_larger_region(chunk: PlanChunk) -> None:
    for z in (12, 14):
        x, y = _river_tile(chunk, z)
        whole = terrain_heights(WORLD, z, x * SIZE - SIZE, y * SIZE - SIZE, 3 * SIZE, 2 * SIZE)
        part = terrain_heights(WORLD, z, x * SIZE, y * SIZE, SIZE, SIZE)
        np.testing.assert_array_equal(part, whole[SIZE:, SIZE : 2 * SIZE])


def test_encodings_round_trip_within_their_resolution() -> None:
    rng = np.random.default_rng(1)
    heights = rng.uniform(-1200.0, 6000.0, (64, 64))
    for encoding, step in (("mapbox", MAPBOX_STEP_M), ("terrarium", TERRARIUM_STEP_M)):
        back = decode_heights(encode_heights(heights, encoding), encoding)  # type: ignore[arg-type]
        assert np.abs(back - heights).max() <= step / 2 + 1e-9
    # The formulas users decode with (Mapbox's and Tilezen's documentation).
    rgb = encode_heights(np.array([[0.0, 1234.5]]), "mapbox").astype(int)
    assert [-10000 + (r * 65536 + g * 256 + b) * 0.1 for r, g, b in rgb[0]] == pytest.approx(
        [0.0, 1234.5]
    )
    rgb = encode_heights(np.array([[0.0, -20.25]]), "terrarium").astype(int)
    assert [r * 256 + g + b / 256 - 32768 for r, g, b in rgb[0]] == [0.0, -20.25]


def test_tiles_are_the_same_bytes_every_time(chunk: PlanChunk) -> None:
    x, y = _lake_tile(chunk, 11)
    assert terrain_tile(WORLD, 11, x, y) == terrain_tile(WORLD, 11, x, y)


def test_a_world_without_a_plan_has_no_relief() -> None:
    procedural = CATALOG.get("testland")
    assert procedural is not None and procedural.layout == "procedural"
    with pytest.raises(NoPlanRelief, match="no plan relief"):
        terrain_heights(procedural, 3, 0, 0, 16, 16)


# -- served ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An API process alone: terrain tiles need no worker."""
    require_redis()
    deployment = Stack(
        tmp_path_factory.mktemp("terrain"), f"synthtiles-test-{uuid.uuid4().hex[:8]}"
    )
    try:
        deployment.base_url = deployment.start_api()
        yield deployment
    finally:
        deployment.stop()


def _get(api: Stack, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{api.base_url}{path}", headers=headers, timeout=120)


@pytest.mark.integration
def test_a_terrain_tile_is_served_cached_and_revalidated(api: Stack, chunk: PlanChunk) -> None:
    z = 12
    x, y = _lake_tile(chunk, z)
    path = f"/worlds/planland/terrain/{z}/{x}/{y}.png"
    first = _get(api, path)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png"
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert first.headers["x-synthtiles-source"] == "generated"
    # The API process computes the bytes this process does.
    assert first.content == terrain_tile(WORLD, z, x, y)
    etag = first.headers["etag"]

    again = _get(api, path)
    assert again.headers["x-synthtiles-source"] == "memory"
    assert again.content == first.content and again.headers["etag"] == etag
    keys = list(api.redis.scan_iter(match=f"{api.prefix}:terrain-*:planland:*:{z}:{x}:{y}"))
    assert len(keys) == 1
    assert api.redis.hget(keys[0], "png") == first.content
    assert api.redis.ttl(keys[0]) > 0

    not_modified = _get(api, path, **{"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    head = httpx.head(f"{api.base_url}{path}", timeout=60)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(first.content))

    terrarium = _get(api, path + "?encoding=terrarium")
    assert terrarium.status_code == 200 and terrarium.content != first.content
    assert terrarium.headers["etag"] != etag
    np.testing.assert_allclose(
        _decoded(terrarium.content, "terrarium"), _decoded(first.content), atol=0.051
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/worlds/planland/terrain/12/0/0.png", 404, "outside world 'planland'"),
        ("/worlds/planland/terrain/9/268/257.png", 404, "zoom 9 is outside"),
        ("/worlds/planland/terrain/12/2170/2060.png?encoding=rgb", 400, "encoding"),
        ("/worlds/planland/terrain/12/2170/2060.jpg", 400, "unsupported tile format"),
        ("/worlds/atlantis/terrain/12/2170/2060.png", 404, "unknown world"),
        # The default world of the test catalog is procedural: no relief to serve.
        ("/terrain/3/4/3.png", 404, "no plan relief"),
        ("/terrain.json", 404, "no plan relief"),
    ],
)
def test_bad_terrain_requests_say_what_is_wrong(
    api: Stack, path: str, status: int, words: str
) -> None:
    response = _get(api, path)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.integration
def test_terrain_tilejson_names_its_encoding(api: Stack) -> None:
    document = _get(api, "/worlds/planland/terrain.json").json()
    assert document["tilejson"] == "3.0.0" and document["encoding"] == "mapbox"
    assert document["tiles"] == [f"{api.base_url}/worlds/planland/terrain/{{z}}/{{x}}/{{y}}.png"]
    assert (document["minzoom"], document["maxzoom"]) == (10, 14)
    assert document["bounds"] == list(WORLD.extent)
    terrarium = _get(api, "/worlds/planland/terrain.json?encoding=terrarium").json()
    assert terrarium["encoding"] == "terrarium"
    assert terrarium["tiles"][0].endswith("/terrain/{z}/{x}/{y}.png?encoding=terrarium")
    # The URL in the document serves a tile.
    min_x, min_y, max_x, max_y = WORLD.tile_range(12)
    x, y = (min_x + max_x) // 2, (min_y + max_y) // 2
    tile = httpx.get(terrarium["tiles"][0].format(z=12, x=x, y=y), timeout=60)
    assert tile.status_code == 200, tile.text
    assert tile.content == terrain_tile(WORLD, 12, x, y, "terrarium")
