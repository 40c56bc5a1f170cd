"""OGC WMTS 1.0.0 GetCapabilities (RESTful) for one world, for QGIS, ArcGIS and GDAL.

The tiles are the XYZ tiles as served: WMTS's TileMatrix/TileCol/TileRow are XYZ's z/x/y
on the Web-Mercator quad grid (GoogleMapsCompatible for 256-px tiles). TileMatrixSetLimits
say which tiles the world has at each of its zooms, so clients never ask outside it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from core.bbox import ORIGIN
from core.world import World

WMTS = "http://www.opengis.net/wmts/1.0"
OWS = "http://www.opengis.net/ows/1.1"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA = "http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd"
# OGC's "standardized rendering pixel size" (0.28 mm) turns metres per pixel into a scale.
PIXEL_SIZE_M = 0.00028

for _prefix, _uri in (("", WMTS), ("ows", OWS), ("xlink", XLINK), ("xsi", XSI)):
    ET.register_namespace(_prefix, _uri)


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _w(tag: str) -> str:
    return f"{{{WMTS}}}{tag}"


def _o(tag: str) -> str:
    return f"{{{OWS}}}{tag}"


def tile_matrix_set_id(world: World) -> str:
    return "GoogleMapsCompatible" if world.tile_size == 256 else f"WebMercatorQuad{world.tile_size}"


def scale_denominator(tile_size: int, z: int) -> float:
    return 2 * ORIGIN / (tile_size * 2**z) / PIXEL_SIZE_M


def capabilities(world: World, base_url: str, attribution: str, query: str = "") -> bytes:
    """The capabilities document of one world; tile URLs and links start with base_url and
    end with ``query`` (e.g. ``?key=...``)."""
    base = base_url.rstrip("/")
    own_url = f"{base}/worlds/{world.id}/WMTSCapabilities.xml{query}"
    root = ET.Element(_w("Capabilities"), {"version": "1.0.0", f"{{{XSI}}}schemaLocation": SCHEMA})

    service = _el(root, _o("ServiceIdentification"))
    _el(service, _o("Title"), f"synthtiles: {world.name or world.id}")
    _el(
        service,
        _o("Abstract"),
        f"Synthetic satellite imagery of the fictional world {world.id!r}; not a real place.",
    )
    _el(service, _o("ServiceType"), "OGC WMTS")
    _el(service, _o("ServiceTypeVersion"), "1.0.0")
    _el(service, _o("AccessConstraints"), attribution)
    provider = _el(root, _o("ServiceProvider"))
    _el(provider, _o("ProviderName"), "synthtiles")

    operations = _el(root, _o("OperationsMetadata"))
    for name, href in (("GetCapabilities", own_url), ("GetTile", f"{base}/worlds/{world.id}/")):
        operation = _el(operations, _o("Operation"), name=name)
        get = _el(
            _el(_el(operation, _o("DCP")), _o("HTTP")), _o("Get"), **{f"{{{XLINK}}}href": href}
        )
        constraint = _el(get, _o("Constraint"), name="GetEncoding")
        _el(_el(constraint, _o("AllowedValues")), _o("Value"), "RESTful")

    contents = _el(root, _w("Contents"))
    matrix_set = tile_matrix_set_id(world)
    layer = _el(contents, _w("Layer"))
    _el(layer, _o("Title"), world.name or world.id)
    _el(layer, _o("Abstract"), f"seed {world.seed}, model {world.model}; {attribution}")
    west, south, east, north = world.extent
    bbox = _el(layer, _o("WGS84BoundingBox"))
    _el(bbox, _o("LowerCorner"), f"{west:.8f} {south:.8f}")
    _el(bbox, _o("UpperCorner"), f"{east:.8f} {north:.8f}")
    _el(layer, _o("Identifier"), world.id)
    style = _el(layer, _w("Style"), isDefault="true")
    _el(style, _o("Identifier"), "default")
    _el(layer, _w("Format"), "image/png")
    link = _el(layer, _w("TileMatrixSetLink"))
    _el(link, _w("TileMatrixSet"), matrix_set)
    limits = _el(link, _w("TileMatrixSetLimits"))
    for z in range(world.min_zoom, world.max_zoom + 1):
        min_x, min_y, max_x, max_y = world.tile_range(z)
        limit = _el(limits, _w("TileMatrixLimits"))
        _el(limit, _w("TileMatrix"), str(z))
        _el(limit, _w("MinTileRow"), str(min_y))
        _el(limit, _w("MaxTileRow"), str(max_y))
        _el(limit, _w("MinTileCol"), str(min_x))
        _el(limit, _w("MaxTileCol"), str(max_x))
    _el(
        layer,
        _w("ResourceURL"),
        format="image/png",
        resourceType="tile",
        template=f"{base}/worlds/{world.id}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png{query}",
    )

    tms = _el(contents, _w("TileMatrixSet"))
    _el(tms, _o("Identifier"), matrix_set)
    _el(tms, _o("SupportedCRS"), "urn:ogc:def:crs:EPSG::3857")
    if world.tile_size == 256:
        _el(tms, _w("WellKnownScaleSet"), "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible")
    # Every zoom from 0: the well-known set starts there; the limits above say what exists.
    for z in range(world.max_zoom + 1):
        matrix = _el(tms, _w("TileMatrix"))
        _el(matrix, _o("Identifier"), str(z))
        _el(matrix, _w("ScaleDenominator"), repr(scale_denominator(world.tile_size, z)))
        _el(matrix, _w("TopLeftCorner"), f"{-ORIGIN!r} {ORIGIN!r}")
        _el(matrix, _w("TileWidth"), str(world.tile_size))
        _el(matrix, _w("TileHeight"), str(world.tile_size))
        _el(matrix, _w("MatrixWidth"), str(2**z))
        _el(matrix, _w("MatrixHeight"), str(2**z))

    _el(root, _w("ServiceMetadataURL"), **{f"{{{XLINK}}}href": own_url})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
