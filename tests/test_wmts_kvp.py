"""WMTS's KVP binding (/wmts?SERVICE=WMTS&REQUEST=...) against a real API process: OWSLib
(an independent WMTS client) reads the capabilities and fetches tiles through KVP, tiles are
the XYZ tiles' bytes, and bad requests get OWS exception reports with the standard's HTTP
status (OGC 07-057r7)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
from owslib.wmts import WebMapTileService

from app.wmts import OWS, WMTS, capabilities, kvp_href, service_capabilities
from tests.stack import Stack
from tests.test_serving import CATALOG, tile_at

pytestmark = pytest.mark.integration

NS = {"w": WMTS, "ows": OWS, "xlink": "http://www.w3.org/1999/xlink"}
GETS = "ows:DCP/ows:HTTP/ows:Get"


def _tile_params(z: int, x: int, y: int, **changes: str | None) -> dict[str, str]:
    params = {
        "SERVICE": "WMTS",
        "REQUEST": "GetTile",
        "VERSION": "1.0.0",
        "LAYER": "testland",
        "STYLE": "default",
        "FORMAT": "image/png",
        "TILEMATRIXSET": "GoogleMapsCompatible",
        "TILEMATRIX": str(z),
        "TILEROW": str(y),
        "TILECOL": str(x),
        **changes,
    }
    return {name: value for name, value in params.items() if value is not None}


def _xyz(stack: Stack, z: int, x: int, y: int) -> httpx.Response:
    response = httpx.get(f"{stack.base_url}/worlds/testland/{z}/{x}/{y}.png", timeout=120)
    assert response.status_code == 200, response.text
    return response


def test_owslib_reads_the_kvp_capabilities_and_gets_tiles_through_kvp(stack: Stack) -> None:
    wmts = WebMapTileService(f"{stack.base_url}/wmts")
    assert {world.id for world in CATALOG} <= set(wmts.contents)
    layer = wmts.contents["testland"]
    assert layer.formats == ["image/png"]
    assert list(layer.tilematrixsetlinks) == ["GoogleMapsCompatible"]
    limits = layer.tilematrixsetlinks["GoogleMapsCompatible"].tilematrixlimits
    world = CATALOG.get("testland")
    assert sorted(limits, key=int) == [str(z) for z in range(world.min_zoom, world.max_zoom + 1)]
    assert (
        len(wmts.tilematrixsets["GoogleMapsCompatible"].tilematrix)
        == max(w.max_zoom for w in CATALOG if w.tile_size == 256) + 1
    )
    # OWSLib takes KVP when the capabilities offer it (its `restonly` is then False).
    assert not wmts.restonly
    z, x, y = tile_at("testland", 5, 9)
    answer = wmts.gettile(
        layer="testland",
        tilematrixset="GoogleMapsCompatible",
        tilematrix=str(z),
        row=y,
        column=x,
        format="image/png",
    )
    assert "REQUEST=GetTile" in answer.geturl() and "/wmts?" in answer.geturl()
    assert answer.read() == _xyz(stack, z, x, y).content


def test_get_tile_is_the_xyz_tile_with_its_caching_headers(stack: Stack) -> None:
    z, x, y = tile_at("testland", 6, 11)
    xyz = _xyz(stack, z, x, y)
    # Parameter names in any case (OGC 06-121r3 §11.5.2).
    params = {name.lower().capitalize(): value for name, value in _tile_params(z, x, y).items()}
    kvp = httpx.get(f"{stack.base_url}/wmts", params=params, timeout=120)
    assert kvp.status_code == 200, kvp.text
    assert kvp.content == xyz.content
    assert kvp.headers["content-type"] == "image/png"
    assert kvp.headers["etag"] == xyz.headers["etag"]
    assert kvp.headers["cache-control"] == xyz.headers["cache-control"]
    again = httpx.get(
        f"{stack.base_url}/wmts",
        params=_tile_params(z, x, y),
        headers={"If-None-Match": xyz.headers["etag"]},
        timeout=60,
    )
    assert again.status_code == 304
    head = httpx.head(f"{stack.base_url}/wmts", params=_tile_params(z, x, y), timeout=60)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(xyz.content))


def test_each_worlds_restful_document_advertises_kvp_too(stack: Stack) -> None:
    document = httpx.get(f"{stack.base_url}/worlds/testland/WMTSCapabilities.xml", timeout=30)
    root = ET.fromstring(document.content)
    for name in ("GetCapabilities", "GetTile"):
        operation = root.find(f"ows:OperationsMetadata/ows:Operation[@name='{name}']", NS)
        encodings = {
            _encoding(get): get.get(f"{{{NS['xlink']}}}href") for get in operation.findall(GETS, NS)
        }
        assert set(encodings) == {"RESTful", "KVP"}
        assert encodings["KVP"] == f"{stack.base_url}/wmts?"
    kvp_capabilities = httpx.get(
        f"{stack.base_url}/wmts?service=WMTS&request=GetCapabilities", timeout=30
    )
    assert kvp_capabilities.status_code == 200
    assert kvp_capabilities.headers["content-type"] == "application/xml"
    layers = ET.fromstring(kvp_capabilities.content).findall("w:Contents/w:Layer", NS)
    assert [layer.findtext("ows:Identifier", namespaces=NS) for layer in layers] == [
        world.id for world in CATALOG
    ]


def _encoding(get: ET.Element) -> str | None:
    return get.findtext("ows:Constraint/ows:AllowedValues/ows:Value", namespaces=NS)


def test_the_restful_parts_stay_as_they_were() -> None:
    """The KVP Gets are the only change to a world's RESTful OperationsMetadata."""
    world = CATALOG.get("testland")
    root = ET.fromstring(capabilities(world, "https://tiles.example.org/", "synthetic"))
    for http in root.iter(f"{{{OWS}}}HTTP"):
        kvp = [get for get in http if _encoding(get) == "KVP"]
        assert len(kvp) == 1
        http.remove(kvp[0])
    operations = root.findall("ows:OperationsMetadata/ows:Operation", NS)
    assert [
        (op.get("name"), [g.get(f"{{{NS['xlink']}}}href") for g in op.findall(GETS, NS)])
        for op in operations
    ] == [
        ("GetCapabilities", ["https://tiles.example.org/worlds/testland/WMTSCapabilities.xml"]),
        ("GetTile", ["https://tiles.example.org/worlds/testland/"]),
    ]


def test_kvp_links_keep_the_key() -> None:
    assert kvp_href("https://h/", "?key=k") == "https://h/wmts?key=k&"
    assert kvp_href("https://h", "") == "https://h/wmts?"
    document = service_capabilities(CATALOG, "https://h/", "synthetic", "?key=k").decode()
    assert 'xlink:href="https://h/wmts?key=k&amp;SERVICE=WMTS&amp;REQUEST=GetCapabilities"' in (
        document
    )
    assert "{TileRow}.png?key=k" in document


def _report(response: httpx.Response) -> tuple[str, str | None, str]:
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["cache-control"] == "no-store"
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{OWS}}}ExceptionReport"
    exception = root.find("ows:Exception", NS)
    return (
        exception.get("exceptionCode"),
        exception.get("locator"),
        exception.findtext("ows:ExceptionText", namespaces=NS),
    )


_Z, _X, _Y = 3, 3, 4  # inside testland: rows 3-4, columns 3-4 at z3


@pytest.mark.parametrize(
    ("changes", "status", "code", "locator", "text"),
    [
        ({"SERVICE": None}, 400, "MissingParameterValue", "Service", "required"),
        ({"SERVICE": "WMS"}, 400, "InvalidParameterValue", "Service", "must be WMTS"),
        ({"REQUEST": None}, 400, "MissingParameterValue", "Request", "required"),
        ({"REQUEST": "GetFeatureInfo"}, 501, "OperationNotSupported", "Request", "GetTile"),
        ({"VERSION": None}, 400, "MissingParameterValue", "Version", "required"),
        ({"VERSION": "2.0.0"}, 400, "InvalidParameterValue", "Version", "1.0.0"),
        ({"LAYER": "atlantis"}, 400, "InvalidParameterValue", "Layer", "testland"),
        ({"STYLE": None}, 400, "MissingParameterValue", "Style", "required"),
        ({"STYLE": "dark"}, 400, "InvalidParameterValue", "Style", "default"),
        ({"FORMAT": "image/jpeg"}, 400, "InvalidParameterValue", "Format", "image/png"),
        (
            {"TILEMATRIXSET": "WebMercatorQuad"},
            400,
            "InvalidParameterValue",
            "TileMatrixSet",
            "GoogleMapsCompatible",
        ),
        ({"TILEMATRIX": None}, 400, "MissingParameterValue", "TileMatrix", "required"),
        ({"TILEMATRIX": "1"}, 400, "InvalidParameterValue", "TileMatrix", "2-9"),
        ({"TILEROW": ""}, 400, "MissingParameterValue", "TileRow", "required"),
        ({"TILEROW": "x"}, 400, "InvalidParameterValue", "TileRow", "integer"),
        ({"TILEROW": "7"}, 400, "TileOutOfRange", "TileRow", "allowed 3-4"),
        ({"TILECOL": "0"}, 400, "TileOutOfRange", "TileCol", "allowed 3-4"),
        ({"TILECOL": "-1"}, 400, "InvalidParameterValue", "TileCol", "integer"),
    ],
)
def test_bad_requests_get_exception_reports(
    stack: Stack, changes: dict, status: int, code: str, locator: str, text: str
) -> None:
    response = httpx.get(
        f"{stack.base_url}/wmts", params=_tile_params(_Z, _X, _Y, **changes), timeout=30
    )
    assert response.status_code == status, response.text
    assert _report(response)[:2] == (code, locator)
    assert text in _report(response)[2]


def test_get_capabilities_refuses_other_versions(stack: Stack) -> None:
    response = httpx.get(
        f"{stack.base_url}/wmts",
        params={"service": "WMTS", "request": "GetCapabilities", "AcceptVersions": "2.0.0"},
        timeout=30,
    )
    assert response.status_code == 400
    assert _report(response)[:2] == ("VersionNegotiationFailed", "AcceptVersions")


def test_a_server_that_wants_keys_wants_them_here_too(stack: Stack) -> None:
    api = stack.start_api(SYNTHTILES_API_KEYS="tiles-key", SYNTHTILES_TILES_REQUIRE_KEY="true")
    capabilities_params = {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}
    assert httpx.get(f"{api}/wmts", params=capabilities_params, timeout=30).status_code == 401
    document = httpx.get(
        f"{api}/wmts", params={**capabilities_params, "key": "tiles-key"}, timeout=30
    )
    assert document.status_code == 200
    assert f'xlink:href="{api}/wmts?key=tiles-key&amp;"' in document.text
    z, x, y = tile_at("testland", 5, 9)
    # OWSLib given the keyed URL finds the keyed KVP href in the document and uses it.
    wmts = WebMapTileService(f"{api}/wmts?key=tiles-key")
    tile = wmts.gettile(
        layer="testland", tilematrixset="GoogleMapsCompatible", tilematrix=str(z), row=y, column=x
    )
    assert "key=tiles-key" in tile.geturl()
    assert tile.read() == _xyz(stack, z, x, y).content
    assert httpx.get(f"{api}/wmts", params=_tile_params(z, x, y), timeout=30).status_code == 401
