"""Tile packages of the terrain and vector layers (issue #21, item 7): one layer per MBTiles
or PMTiles file, named by the layer, the same bytes the layer's routes serve, with the
metadata MBTiles/PMTiles readers look for; read back by sqlite3 and the pmtiles package.
Imagery packages are unchanged (tests/test_tilepackages.py, tests/test_gis_exports.py)."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import httpx
import mapbox_vector_tile
import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import deserialize_header

from app.export_jobs import job_id_of
from core.bbox import AreaError
from core.exports import PackageExport, plan_export
from core.layers.terrain import terrain_tile
from core.layers.vector import VECTOR_LAYERS, vector_tile
from core.plans import world_plan
from core.world import WorldCatalog
from tests.stack import WORLDS_FILE, Stack
from tests.test_viewers_seed_export import _cli

CATALOG = WorldCatalog.load(WORLDS_FILE)
WORLD = CATALOG.get("planland")
assert WORLD is not None
BBOX = (10.6, -1.4, 10.9, -1.1)  # inland on planland: 2 tiles at z10, 6 at z11
ZOOMS = (10, 11)


@pytest.fixture(scope="module", autouse=True)
def _plan_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Planland's plan is cached in a temporary folder, not the repository's."""
    world_plan(WORLD, tmp_path_factory.mktemp("plans"))


def _plan(fmt: str, layer: str | None) -> PackageExport:
    plan = plan_export(WORLD, BBOX, fmt, *ZOOMS, 10**9, {"layer": layer})
    assert isinstance(plan, PackageExport)
    return plan


def _mbtiles(path: Path) -> tuple[dict[str, str], dict[tuple[int, int, int], bytes]]:
    with sqlite3.connect(path) as db:
        metadata = dict(db.execute("SELECT name, value FROM metadata"))
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        tiles = {(z, x, (1 << z) - 1 - row): bytes(data) for z, x, row, data in rows}
    return metadata, tiles


def _pmtiles(path: Path) -> tuple[dict, dict, dict[tuple[int, int, int], bytes]]:
    with path.open("rb") as f:
        get = MmapSource(f)
        header = deserialize_header(get(0, 127))
        metadata = Reader(get).metadata()
        tiles = dict(all_tiles(get))
    return header, metadata, tiles


def test_the_layer_names_the_file_and_needs_no_generated_tiles() -> None:
    imagery = _plan("pmtiles", None)
    assert _plan("pmtiles", "imagery") == imagery  # the default, said explicitly
    assert imagery.options == {} and imagery.units()
    assert imagery.filename == "planland-z10-11.pmtiles"
    for layer in ("terrain", "vector"):
        plan = _plan("mbtiles", layer)
        assert plan.options == {"layer": layer} and plan.units() == []
        assert plan.filename == f"planland-{layer}-z10-11.mbtiles"
        assert plan.tile_count == imagery.tile_count == 8
        assert f"8 {layer} tiles" in plan.describe()
    # Each layer is its own export job; imagery keeps the id it always had.
    ids = {job_id_of(_plan("pmtiles", layer)) for layer in (None, "terrain", "vector")}
    assert len(ids) == 3


def test_refused_layers_say_why() -> None:
    with pytest.raises(AreaError, match="unknown layer 'relief'"):
        _plan("pmtiles", "relief")
    with pytest.raises(AreaError, match="format 'cog' takes no options; not layer"):
        plan_export(WORLD, BBOX, "cog", 11, 11, 10**9, {"layer": "terrain"})
    procedural = CATALOG.get("testland")
    assert procedural is not None
    with pytest.raises(AreaError, match=r"no plan .* no terrain layer"):
        plan_export(procedural, (-10, -8, 0, 0), "mbtiles", 3, 4, 10**9, {"layer": "terrain"})


def test_a_terrain_mbtiles_holds_the_served_terrain_tiles(tmp_path: Path) -> None:
    plan = _plan("mbtiles", "terrain")
    out = plan.write(_no_imagery, tmp_path / plan.filename, "Synthetic: not a real place")
    metadata, tiles = _mbtiles(out)
    assert metadata["format"] == "png" and metadata["type"] == "baselayer"
    assert "Terrain-RGB" in metadata["description"]
    assert json.loads(metadata["synthtiles"])["encoding"] == "mapbox"
    assert sorted(tiles) == sorted(plan.tile_coords())
    for (z, x, y), data in tiles.items():
        assert data == terrain_tile(WORLD, z, x, y)


def test_a_vector_pmtiles_holds_gzipped_mvts_and_their_layers(tmp_path: Path) -> None:
    plan = _plan("pmtiles", "vector")
    out = plan.write(_no_imagery, tmp_path / plan.filename, "Synthetic: not a real place")
    header, metadata, tiles = _pmtiles(out)
    assert header["tile_type"].value == 1  # MVT
    assert header["tile_compression"].value == 2  # gzip, as tippecanoe and planetiler write
    assert (header["min_zoom"], header["max_zoom"]) == ZOOMS
    assert metadata["format"] == "pbf" and metadata["type"] == "overlay"
    assert [layer["id"] for layer in metadata["vector_layers"]] == list(VECTOR_LAYERS)
    assert len(tiles) == plan.tile_count
    names: set[str] = set()
    for (z, x, y), data in tiles.items():
        mvt = gzip.decompress(data)
        assert mvt == vector_tile(WORLD, z, x, y)
        names |= set(mapbox_vector_tile.decode(mvt))
    assert {"road", "waterway", "landcover", "contour"} <= names


def test_a_vector_mbtiles_has_its_json_row(tmp_path: Path) -> None:
    plan = _plan("mbtiles", "vector")
    out = plan.write(_no_imagery, tmp_path / plan.filename, "Synthetic: not a real place")
    metadata, tiles = _mbtiles(out)
    assert metadata["format"] == "pbf"
    # MBTiles 1.3: an MVT package says its layers in the `json` row.
    layers = json.loads(metadata["json"])["vector_layers"]
    assert [layer["id"] for layer in layers] == list(VECTOR_LAYERS)
    assert all("fields" in layer and layer["minzoom"] == ZOOMS[0] for layer in layers)
    z, x, y = next(iter(plan.tile_coords()))
    assert gzip.decompress(tiles[z, x, y]) == vector_tile(WORLD, z, x, y)


def test_a_terrain_pmtiles_holds_png(tmp_path: Path) -> None:
    plan = _plan("pmtiles", "terrain")
    out = plan.write(_no_imagery, tmp_path / plan.filename, "Synthetic: not a real place")
    header, metadata, tiles = _pmtiles(out)
    assert header["tile_type"].value == 2 and header["tile_compression"].value == 1
    assert metadata["synthtiles"]["layer"] == "terrain"
    z, x, y = max(tiles)
    assert tiles[z, x, y] == terrain_tile(WORLD, z, x, y)


def _no_imagery(z: int, x: int, y: int) -> bytes:
    raise AssertionError(f"a terrain or vector package read imagery tile {z}/{x}/{y}")


# -- through the API and the CLI -----------------------------------------------------------


@pytest.mark.integration
def test_the_api_exports_one_layer_per_package(stack: Stack, tmp_path: Path) -> None:
    def post(**body: object) -> httpx.Response:
        request = {"world": "planland", "bbox": list(BBOX), "minzoom": 10, "maxzoom": 11}
        return httpx.post(f"{stack.base_url}/export", json={**request, **body}, timeout=300)

    response = post(format="pmtiles", layer="terrain")
    assert response.status_code == 200, response.text
    assert 'filename="planland-terrain-z10-11.pmtiles"' in response.headers["content-disposition"]
    out = tmp_path / "terrain.pmtiles"
    out.write_bytes(response.content)
    _, metadata, tiles = _pmtiles(out)
    assert metadata["synthtiles"]["layer"] == "terrain" and len(tiles) == 8
    for body, words in (
        ({"format": "pmtiles", "layer": "relief"}, "layer"),
        ({"format": "cog", "layer": "vector", "minzoom": 11}, "takes no options"),
    ):
        refused = post(**body)
        assert refused.status_code == 400 and words in refused.json()["error"], refused.text


@pytest.mark.integration
def test_the_cli_writes_imagery_map_and_terrain_beside_each_other(
    stack: Stack, tmp_path: Path
) -> None:
    out = tmp_path / "exercise.pmtiles"
    done = _cli(
        stack,
        "export",
        "--world",
        "planland",
        "--format",
        "pmtiles",
        "--bbox",
        ",".join(map(str, BBOX)),
        "--zoom",
        "10",
        "--layers",
        "imagery,terrain,vector",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    files = {layer: tmp_path / f"exercise{suffix}.pmtiles" for layer, suffix in (
        ("imagery", ""), ("terrain", "-terrain"), ("vector", "-vector"))}  # fmt: skip
    for layer, path in files.items():
        assert f"wrote {path}" in done.stdout
        header, metadata, tiles = _pmtiles(path)
        assert len(tiles) == 2
        assert header["tile_type"].value == (1 if layer == "vector" else 2)
        assert metadata["synthtiles"].get("layer", "imagery") == layer
    imagery = _pmtiles(files["imagery"])[2]
    for (z, x, y), data in imagery.items():
        served = httpx.get(f"{stack.base_url}/worlds/planland/{z}/{x}/{y}.png", timeout=120)
        assert served.content == data
