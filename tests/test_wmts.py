"""The WMTS capabilities document, checked against the world it describes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.wmts import OWS, WMTS, capabilities, scale_denominator
from core.world import World
from tests.test_serving import CATALOG

NS = {"w": WMTS, "ows": OWS}


def _parse(world: World) -> ET.Element:
    return ET.fromstring(capabilities(world, "https://tiles.example.org/", "synthetic"))


def test_limits_are_the_worlds_tiles_at_each_of_its_zooms() -> None:
    world = CATALOG.get("testland")
    root = _parse(world)
    layer = root.find("w:Contents/w:Layer", NS)
    assert layer.findtext("ows:Identifier", namespaces=NS) == "testland"
    limits = layer.findall("w:TileMatrixSetLink/w:TileMatrixSetLimits/w:TileMatrixLimits", NS)
    assert [int(limit.findtext("w:TileMatrix", namespaces=NS)) for limit in limits] == list(
        range(world.min_zoom, world.max_zoom + 1)
    )
    for limit in limits:
        z = int(limit.findtext("w:TileMatrix", namespaces=NS))
        min_x, min_y, max_x, max_y = world.tile_range(z)
        assert [
            int(limit.findtext(f"w:{name}", namespaces=NS))
            for name in ("MinTileCol", "MinTileRow", "MaxTileCol", "MaxTileRow")
        ] == [min_x, min_y, max_x, max_y]
    template = layer.find("w:ResourceURL", NS).get("template")
    assert template == (
        "https://tiles.example.org/worlds/testland/{TileMatrix}/{TileCol}/{TileRow}.png"
    )


def test_the_tile_matrix_set_is_google_maps_compatible() -> None:
    root = _parse(CATALOG.get("testland"))
    tms = root.find("w:Contents/w:TileMatrixSet", NS)
    assert tms.findtext("ows:Identifier", namespaces=NS) == "GoogleMapsCompatible"
    assert tms.findtext("ows:SupportedCRS", namespaces=NS) == "urn:ogc:def:crs:EPSG::3857"
    matrices = tms.findall("w:TileMatrix", NS)
    assert len(matrices) == CATALOG.get("testland").max_zoom + 1
    # The published GoogleMapsCompatible denominators (OGC 07-057r7, annex E.4).
    assert float(matrices[0].findtext("w:ScaleDenominator", namespaces=NS)) == pytest.approx(
        559082264.0287178, rel=1e-12
    )
    assert float(matrices[9].findtext("w:ScaleDenominator", namespaces=NS)) == pytest.approx(
        1091957.546931207, rel=1e-12
    )
    assert matrices[9].findtext("w:MatrixWidth", namespaces=NS) == "512"


def test_512_pixel_tiles_get_their_own_matrix_set() -> None:
    world = CATALOG.get("testland").model_copy(update={"tile_size": 512})
    tms = _parse(world).find("w:Contents/w:TileMatrixSet", NS)
    assert tms.findtext("ows:Identifier", namespaces=NS) == "WebMercatorQuad512"
    assert tms.find("w:WellKnownScaleSet", NS) is None
    assert scale_denominator(512, 3) == pytest.approx(scale_denominator(256, 4))


def test_names_are_escaped() -> None:
    world = CATALOG.get("testland").model_copy(update={"name": 'Fish & "Chips" <Isles>'})
    root = _parse(world)
    assert root.findtext("ows:ServiceIdentification/ows:Title", namespaces=NS) == (
        'synthtiles: Fish & "Chips" <Isles>'
    )
