"""OGC API - Tiles under /ogc against a real API process: every link resolves, the tile
template gives the XYZ tile's bytes (ETag, 304, HEAD too), WebMercatorQuad is the standard
one (checked against mercantile and morecantile), and errors are 404/400 with a message."""

from __future__ import annotations

from typing import Any

import httpx
import mercantile
import morecantile
import pytest

from app.ogc import (
    CONFORMANCE,
    TILE_LAYERS,
    Links,
    conformance,
    tile_matrix_set,
    tile_matrix_set_id,
)
from tests.stack import Stack
from tests.test_serving import CATALOG, tile_at

pytestmark = pytest.mark.integration

REL = "http://www.opengis.net/def/rel/ogc/1.0/"
QUAD = "WebMercatorQuad"


def _get(stack: Stack, path_or_url: str, **kwargs: Any) -> httpx.Response:
    url = path_or_url if path_or_url.startswith("http") else f"{stack.base_url}{path_or_url}"
    return httpx.get(url, timeout=120, **kwargs)


def _json(stack: Stack, path_or_url: str) -> dict[str, Any]:
    response = _get(stack, path_or_url)
    assert response.status_code == 200, (path_or_url, response.text)
    assert response.headers["content-type"] == "application/json"
    return response.json()


def _link(document: dict[str, Any], rel: str) -> dict[str, Any]:
    (link,) = [link for link in document["links"] if link["rel"] == rel]
    return link


def test_every_link_from_the_landing_page_resolves(stack: Stack) -> None:
    """Walks the documents from /ogc/ as a client does: every link (templates aside)
    answers 200 with the type it announces, and the walk reaches every world's tilesets."""
    landing = _json(stack, "/ogc/")
    assert _json(stack, "/ogc") == landing
    rels = {link["rel"] for link in landing["links"]}
    assert {
        "self",
        "service-desc",
        f"{REL}conformance",
        f"{REL}data",
        f"{REL}tiling-schemes",
    } <= rels
    seen: set[str] = set()
    tilesets: set[str] = set()
    todo = [link for link in landing["links"]]
    while todo:
        link = todo.pop()
        if link.get("templated") or link["href"] in seen:
            continue
        seen.add(link["href"])
        response = _get(stack, link["href"])
        assert response.status_code == 200, (link, response.text)
        assert response.headers["content-type"].split(";")[0] == link["type"].split(";")[0]
        if link["href"].startswith(f"{stack.base_url}/ogc") and link["type"] == "application/json":
            document = response.json()
            if "tileMatrixSetLimits" in document:
                tilesets.add(link["href"])
            todo.extend(document.get("links", []))
            for inner in document.get("collections", []) + document.get("tilesets", []):
                todo.extend(inner["links"])
            for inner in document.get("tileMatrixSets", []):
                todo.extend(inner["links"])
    expected = {
        f"{stack.base_url}/ogc/collections/{world.id}/{layer.path}/{QUAD}"
        for world in CATALOG
        for layer in TILE_LAYERS
        if layer.offered(world)
    }
    assert tilesets == expected


def test_conformance_declares_the_classes_served(stack: Stack) -> None:
    declared = _json(stack, "/ogc/conformance")["conformsTo"]
    assert declared == conformance()["conformsTo"]
    assert set(CONFORMANCE) <= set(declared)
    for encoding in ("png", "mvt"):
        assert f"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{encoding}" in declared
    # Not implemented, so not declared.
    assert not [c for c in declared if c.endswith(("/dataset-tilesets", "/html", "/oas30"))]


def test_web_mercator_quad_is_the_standard_one(stack: Stack) -> None:
    listed = _json(stack, "/ogc/tileMatrixSets")["tileMatrixSets"]
    assert [item["id"] for item in listed] == [QUAD]
    tms = _json(stack, f"/ogc/tileMatrixSets/{QUAD}")
    assert tms["uri"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    assert tms["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    # An independent reading: morecantile parses it and finds its own WebMercatorQuad.
    parsed = morecantile.TileMatrixSet.model_validate(tms)
    reference = morecantile.tms.get(QUAD)
    assert len(parsed.tileMatrices) == len(reference.tileMatrices) == 25
    for ours, theirs in zip(parsed.tileMatrices, reference.tileMatrices, strict=True):
        assert ours.id == theirs.id
        assert ours.scaleDenominator == pytest.approx(theirs.scaleDenominator, rel=1e-12)
        assert ours.cellSize == pytest.approx(theirs.cellSize, rel=1e-12)
        assert ours.pointOfOrigin == pytest.approx(theirs.pointOfOrigin, rel=1e-12)
        assert (ours.matrixWidth, ours.matrixHeight) == (theirs.matrixWidth, theirs.matrixHeight)
        assert (ours.tileWidth, ours.cornerOfOrigin) == (256, "topLeft")
    # And the XYZ grid itself (mercantile) at every zoom a world of the catalog has.
    for z in range(max(world.max_zoom for world in CATALOG) + 1):
        matrix = tms["tileMatrices"][z]
        bounds = mercantile.xy_bounds(0, 0, z)
        assert matrix["pointOfOrigin"] == pytest.approx([bounds.left, bounds.top], rel=1e-12)
        assert matrix["cellSize"] * 256 == pytest.approx(bounds.right - bounds.left, rel=1e-12)
        assert matrix["matrixWidth"] == matrix["matrixHeight"] == 2**z
        last = mercantile.xy_bounds(2**z - 1, 2**z - 1, z)
        assert matrix["pointOfOrigin"][0] + matrix["matrixWidth"] * 256 * matrix[
            "cellSize"
        ] == pytest.approx(last.right, rel=1e-12)
    # The published GoogleMapsCompatible denominator at z0 (OGC 17-083r4, annex D.1).
    assert tms["tileMatrices"][0]["scaleDenominator"] == pytest.approx(559082264.0287178)


def test_a_tileset_says_which_tiles_exist_and_where(stack: Stack) -> None:
    world = CATALOG.get("testland")
    tileset = _json(stack, f"/ogc/collections/testland/map/tiles/{QUAD}")
    assert tileset["dataType"] == "map"
    assert tileset["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert tileset["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    assert _link(tileset, f"{REL}tiling-scheme")["href"].endswith(f"/ogc/tileMatrixSets/{QUAD}")
    assert _link(tileset, f"{REL}geodata")["href"].endswith("/ogc/collections/testland")
    limits = tileset["tileMatrixSetLimits"]
    assert [limit["tileMatrix"] for limit in limits] == [
        str(z) for z in range(world.min_zoom, world.max_zoom + 1)
    ]
    west, south, east, north = world.extent
    for limit in limits:
        z = int(limit["tileMatrix"])
        tiles = list(mercantile.tiles(west + 1e-9, south + 1e-9, east - 1e-9, north - 1e-9, z))
        assert (limit["minTileCol"], limit["maxTileCol"]) == (
            min(t.x for t in tiles),
            max(t.x for t in tiles),
        )
        assert (limit["minTileRow"], limit["maxTileRow"]) == (
            min(t.y for t in tiles),
            max(t.y for t in tiles),
        )
    listed = _json(stack, "/ogc/collections/testland/map/tiles")["tilesets"]
    assert [item["dataType"] for item in listed] == ["map"]
    assert (
        _link(listed[0], "self")["href"]
        == f"{stack.base_url}/ogc/collections/testland/map/tiles/{QUAD}"
    )


def _expand(template: str, z: int, x: int, y: int) -> str:
    return (
        template.replace("{tileMatrix}", str(z))
        .replace("{tileRow}", str(y))
        .replace("{tileCol}", str(x))
    )


@pytest.mark.parametrize(
    ("world", "tiles", "media_type", "xyz"),
    [
        ("testland", "map/tiles", "image/png", "/worlds/testland/{z}/{x}/{y}.png"),
        ("planland", "coverage/tiles", "image/png", "/worlds/planland/terrain/{z}/{x}/{y}.png"),
        (
            "planland",
            "tiles",
            "application/vnd.mapbox-vector-tile",
            "/worlds/planland/vector/{z}/{x}/{y}.pbf",
        ),
    ],
)
def test_the_tile_template_gives_the_xyz_tile(
    stack: Stack, world: str, tiles: str, media_type: str, xyz: str
) -> None:
    tileset = _json(stack, f"/ogc/collections/{world}/{tiles}/{QUAD}")
    template = _link(tileset, "item")
    assert template["templated"] is True and template["type"] == media_type
    z, x, y = tile_at(world, CATALOG.get(world).min_zoom + 3, 9)
    url = _expand(template["href"], z, x, y)
    first = _get(stack, url)
    if tiles == "tiles":  # vector tiles: sent on to the vector route's URL
        assert first.status_code == 307
        assert first.headers["location"] == f"{stack.base_url}{xyz.format(z=z, x=x, y=y)}"
    ogc_tile = _get(stack, url, follow_redirects=True)
    xyz_tile = _get(stack, xyz.format(z=z, x=x, y=y))
    assert ogc_tile.status_code == xyz_tile.status_code == 200
    assert ogc_tile.content == xyz_tile.content
    assert ogc_tile.headers["content-type"] == media_type
    assert ogc_tile.headers["etag"] == xyz_tile.headers["etag"]
    assert ogc_tile.headers["cache-control"] == xyz_tile.headers["cache-control"]
    again = _get(
        stack, url, headers={"If-None-Match": xyz_tile.headers["etag"]}, follow_redirects=True
    )
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(url, timeout=60, follow_redirects=True)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(xyz_tile.content))


def test_worlds_without_a_plan_have_imagery_only(stack: Stack) -> None:
    links = _json(stack, "/ogc/collections/testland")["links"]
    assert [link["rel"] for link in links if "tilesets-" in link["rel"]] == [f"{REL}tilesets-map"]
    planned = _json(stack, "/ogc/collections/planland")["links"]
    assert [link["rel"] for link in planned if "tilesets-" in link["rel"]] == [
        f"{REL}tilesets-{kind}" for kind in ("map", "vector", "coverage")
    ]
    for layer, what in (("coverage/tiles", "elevation"), ("tiles", "vector tiles")):
        for path in (layer, f"{layer}/{QUAD}", f"{layer}/{QUAD}/4/7/7"):
            response = _get(stack, f"/ogc/collections/testland/{path}")
            assert response.status_code == 404
            assert f"world 'testland' has no {what}" in response.json()["error"]
            assert response.json()["tilesets"] == ["/ogc/collections/testland/map/tiles"]


def test_the_vector_tileset_lists_its_layers_and_fields(stack: Stack) -> None:
    tileset = _json(stack, f"/ogc/collections/planland/tiles/{QUAD}")
    assert tileset["dataType"] == "vector"
    layers = {layer["id"]: layer for layer in tileset["layers"]}
    assert set(layers) == {"water", "waterway", "road", "bridge", "place", "landcover", "contour"}
    assert set(layers["contour"]["propertiesSchema"]["properties"]) == {"ele", "index"}
    assert set(layers["place"]["propertiesSchema"]["properties"]) >= {"name", "population"}
    # The same layers as the vector TileJSON names.
    tilejson = _json(stack, _link(tileset, "alternate")["href"])
    assert [layer["id"] for layer in tilejson["vector_layers"]] == list(layers)


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/ogc/collections/atlantis", 404, "unknown world 'atlantis'"),
        (f"/ogc/collections/atlantis/map/tiles/{QUAD}/5/15/15", 404, "unknown world"),
        ("/ogc/tileMatrixSets/WorldCRS84Quad", 404, "unknown tile matrix set 'WorldCRS84Quad'"),
        (
            "/ogc/collections/testland/map/tiles/WorldCRS84Quad",
            404,
            "unknown tile matrix set",
        ),
        (f"/ogc/collections/testland/map/tiles/{QUAD}/1/1/1", 404, "tileMatrix 1 is outside"),
        (f"/ogc/collections/testland/map/tiles/{QUAD}/10/0/0", 404, "tileMatrix 10 is outside"),
        (
            f"/ogc/collections/testland/map/tiles/{QUAD}/3/9/3",
            404,
            "is outside the limits of world 'testland' at tileMatrix 3: rows 3-4",
        ),
        (
            f"/ogc/collections/testland/map/tiles/{QUAD}/3/3/0",
            404,
            "columns 3-4",
        ),
        (f"/ogc/collections/testland/map/tiles/{QUAD}/03/3/3", 400, "tileMatrix must be"),
        (f"/ogc/collections/testland/map/tiles/{QUAD}/3/-3/3", 400, "tileRow must be"),
        (f"/ogc/collections/testland/map/tiles/{QUAD}/3/3/x", 400, "tileCol must be"),
        ("/ogc/collections?f=html", 400, "unsupported format f='html'"),
    ],
)
def test_errors_say_what_is_wrong(stack: Stack, path: str, status: int, message: str) -> None:
    response = _get(stack, path)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert response.headers["cache-control"] == "no-store"


def test_links_carry_the_key_they_were_asked_with(stack: Stack) -> None:
    tileset = _json(stack, f"/ogc/collections/testland/map/tiles/{QUAD}?key=abc")
    assert all(link["href"].endswith("?key=abc") for link in tileset["links"])
    assert _link(tileset, "item")["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}?key=abc")


def test_a_server_that_wants_keys_wants_them_here_too(stack: Stack) -> None:
    api = stack.start_api(SYNTHTILES_API_KEYS="tiles-key", SYNTHTILES_TILES_REQUIRE_KEY="true")
    tileset_path = f"/ogc/collections/testland/map/tiles/{QUAD}"
    assert httpx.get(f"{api}/ogc/", timeout=30).status_code == 401
    assert httpx.get(f"{api}{tileset_path}", timeout=30).status_code == 401
    assert httpx.get(f"{api}{tileset_path}?key=wrong", timeout=30).status_code == 403
    tileset = httpx.get(f"{api}{tileset_path}?key=tiles-key", timeout=30).json()
    z, x, y = tile_at("testland", 5, 7)
    url = _expand(_link(tileset, "item")["href"], z, x, y)
    assert url.endswith("?key=tiles-key")
    assert httpx.get(url, timeout=120).status_code == 200
    assert httpx.get(url.partition("?")[0], timeout=30).status_code == 401


def test_512_pixel_worlds_get_a_quad_of_their_own() -> None:
    """No network: the set for 512-px tiles is the same grid with cells half as big."""
    links = Links("https://tiles.example.org", "")
    assert tile_matrix_set_id(512) == "WebMercatorQuad512"
    wide = morecantile.TileMatrixSet.model_validate(
        tile_matrix_set("WebMercatorQuad512", 512, links)
    )
    quad = morecantile.tms.get(QUAD)
    assert wide.uri is None  # not the registered WebMercatorQuad
    for z in range(24):
        assert wide.matrix(z).cellSize == pytest.approx(quad.matrix(z + 1).cellSize, rel=1e-12)
        assert wide.matrix(z).matrixWidth == quad.matrix(z).matrixWidth
        assert wide.xy_bounds(3, 5, z) == pytest.approx(quad.xy_bounds(3, 5, z), rel=1e-9)
