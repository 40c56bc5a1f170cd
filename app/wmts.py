"""OGC WMTS 1.0.0 (OGC 07-057r7) over the XYZ tiles, for QGIS, ArcGIS, GDAL and OWSLib.

The tiles are the XYZ tiles as served: WMTS's TileMatrix/TileCol/TileRow are XYZ's z/x/y
on the Web-Mercator quad grid (GoogleMapsCompatible for 256-px tiles). TileMatrixSetLimits
say which tiles a world has at each of its zooms, so clients never ask outside it.

Two bindings: RESTful (one capabilities document per world, tiles at their XYZ URLs) and
KVP (`/wmts?SERVICE=WMTS&REQUEST=GetCapabilities|GetTile&...`, every world a layer), with
OWS exception reports for bad KVP requests.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.tile_url import INTEGER
from core.bbox import ORIGIN
from core.world import World, WorldCatalog

WMTS = "http://www.opengis.net/wmts/1.0"
OWS = "http://www.opengis.net/ows/1.1"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA = "http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd"
EXCEPTION_SCHEMA = (
    "http://www.opengis.net/ows/1.1 http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd"
)
# OGC's "standardized rendering pixel size" (0.28 mm) turns metres per pixel into a scale.
PIXEL_SIZE_M = 0.00028
VERSION = "1.0.0"
TILE_FORMAT = "image/png"
DEFAULT_STYLE = "default"
# Where the KVP binding answers (app/routers/wmts.py mounts it here).
KVP_PATH = "/wmts"

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


def kvp_href(base_url: str, query: str = "") -> str:
    """The KVP endpoint as OWS writes it in OperationsMetadata: ending in `?` or `&`, so a
    client appends its parameters (the `?key=...` of the document's own URL kept)."""
    return f"{base_url.rstrip('/')}{KVP_PATH}?{query.lstrip('?') + '&' if query else ''}"


def capabilities(world: World, base_url: str, attribution: str, query: str = "") -> bytes:
    """The RESTful capabilities document of one world; tile URLs and links start with
    base_url and end with ``query`` (e.g. ``?key=...``)."""
    base = base_url.rstrip("/")
    return _capabilities(
        [world],
        base,
        attribution,
        query,
        title=f"synthtiles: {world.name or world.id}",
        abstract=f"Synthetic satellite imagery of the fictional world {world.id!r}; "
        "not a real place.",
        own_url=f"{base}/worlds/{world.id}/WMTSCapabilities.xml{query}",
        restful={
            "GetCapabilities": f"{base}/worlds/{world.id}/WMTSCapabilities.xml{query}",
            "GetTile": f"{base}/worlds/{world.id}/",
        },
    )


def service_capabilities(
    catalog: WorldCatalog, base_url: str, attribution: str, query: str = ""
) -> bytes:
    """The KVP GetCapabilities document: every world of the catalog is a layer (its id is
    the LAYER of GetTile); RESTful tile URLs are advertised beside the KVP binding."""
    base = base_url.rstrip("/")
    return _capabilities(
        list(catalog),
        base,
        attribution,
        query,
        title="synthtiles",
        abstract="Synthetic satellite imagery of fictional worlds (one layer per world); "
        "not real places.",
        own_url=f"{kvp_href(base, query)}SERVICE=WMTS&REQUEST=GetCapabilities",
        # Each world has a RESTful document of its own; the layers' ResourceURLs are RESTful.
        restful={"GetTile": f"{base}/worlds/"},
    )


def _capabilities(
    worlds: Sequence[World],
    base: str,
    attribution: str,
    query: str,
    *,
    title: str,
    abstract: str,
    own_url: str,
    restful: dict[str, str],
) -> bytes:
    """The document; ``restful`` has the RESTful href of each operation that has one (the
    KVP binding has them all)."""
    root = ET.Element(_w("Capabilities"), {"version": VERSION, f"{{{XSI}}}schemaLocation": SCHEMA})

    service = _el(root, _o("ServiceIdentification"))
    _el(service, _o("Title"), title)
    _el(service, _o("Abstract"), abstract)
    _el(service, _o("ServiceType"), "OGC WMTS")
    _el(service, _o("ServiceTypeVersion"), VERSION)
    _el(service, _o("AccessConstraints"), attribution)
    provider = _el(root, _o("ServiceProvider"))
    _el(provider, _o("ProviderName"), "synthtiles")

    operations = _el(root, _o("OperationsMetadata"))
    for name in ("GetCapabilities", "GetTile"):
        operation = _el(operations, _o("Operation"), name=name)
        http = _el(_el(operation, _o("DCP")), _o("HTTP"))
        for encoding, href in (("RESTful", restful.get(name)), ("KVP", kvp_href(base, query))):
            if href is None:
                continue
            get = _el(http, _o("Get"), **{f"{{{XLINK}}}href": href})
            constraint = _el(get, _o("Constraint"), name="GetEncoding")
            _el(_el(constraint, _o("AllowedValues")), _o("Value"), encoding)

    contents = _el(root, _w("Contents"))
    for world in worlds:
        _layer(contents, world, base, attribution, query)
    max_zooms: dict[str, tuple[int, int]] = {}
    for world in worlds:
        size, top = max_zooms.get(tile_matrix_set_id(world), (world.tile_size, 0))
        max_zooms[tile_matrix_set_id(world)] = (size, max(top, world.max_zoom))
    for matrix_set, (tile_size, max_zoom) in max_zooms.items():
        _tile_matrix_set(contents, matrix_set, tile_size, max_zoom)

    _el(root, _w("ServiceMetadataURL"), **{f"{{{XLINK}}}href": own_url})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _layer(contents: ET.Element, world: World, base: str, attribution: str, query: str) -> None:
    layer = _el(contents, _w("Layer"))
    _el(layer, _o("Title"), world.name or world.id)
    _el(layer, _o("Abstract"), f"seed {world.seed}, model {world.model}; {attribution}")
    west, south, east, north = world.extent
    bbox = _el(layer, _o("WGS84BoundingBox"))
    _el(bbox, _o("LowerCorner"), f"{west:.8f} {south:.8f}")
    _el(bbox, _o("UpperCorner"), f"{east:.8f} {north:.8f}")
    _el(layer, _o("Identifier"), world.id)
    style = _el(layer, _w("Style"), isDefault="true")
    _el(style, _o("Identifier"), DEFAULT_STYLE)
    _el(layer, _w("Format"), TILE_FORMAT)
    link = _el(layer, _w("TileMatrixSetLink"))
    _el(link, _w("TileMatrixSet"), tile_matrix_set_id(world))
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
        format=TILE_FORMAT,
        resourceType="tile",
        template=f"{base}/worlds/{world.id}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png{query}",
    )


def _tile_matrix_set(contents: ET.Element, identifier: str, tile_size: int, max_zoom: int) -> None:
    tms = _el(contents, _w("TileMatrixSet"))
    _el(tms, _o("Identifier"), identifier)
    _el(tms, _o("SupportedCRS"), "urn:ogc:def:crs:EPSG::3857")
    if tile_size == 256:
        _el(tms, _w("WellKnownScaleSet"), "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible")
    # Every zoom from 0: the well-known set starts there; the limits above say what exists.
    for z in range(max_zoom + 1):
        matrix = _el(tms, _w("TileMatrix"))
        _el(matrix, _o("Identifier"), str(z))
        _el(matrix, _w("ScaleDenominator"), repr(scale_denominator(tile_size, z)))
        _el(matrix, _w("TopLeftCorner"), f"{-ORIGIN!r} {ORIGIN!r}")
        _el(matrix, _w("TileWidth"), str(tile_size))
        _el(matrix, _w("TileHeight"), str(tile_size))
        _el(matrix, _w("MatrixWidth"), str(2**z))
        _el(matrix, _w("MatrixHeight"), str(2**z))


# --- KVP requests ----------------------------------------------------------------------

# The HTTP status of each OWS exception code (OGC 07-057r7, tables 21 and 25).
EXCEPTION_STATUS = {
    "OperationNotSupported": 501,
    "MissingParameterValue": 400,
    "InvalidParameterValue": 400,
    "VersionNegotiationFailed": 400,
    "TileOutOfRange": 400,
    "NoApplicableCode": 500,
}


class OwsError(Exception):
    """A KVP request WMTS refuses: answered as an OWS ExceptionReport (OGC 06-121r3 §8)."""

    def __init__(
        self,
        code: str,
        text: str,
        locator: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.locator = locator
        self.status = status or EXCEPTION_STATUS[code]
        self.headers = headers or {}

    def report(self) -> bytes:
        root = ET.Element(
            _o("ExceptionReport"),
            {"version": VERSION, f"{{{XSI}}}schemaLocation": EXCEPTION_SCHEMA},
        )
        attributes = {"exceptionCode": self.code}
        if self.locator is not None:
            attributes["locator"] = self.locator
        _el(_el(root, _o("Exception"), **attributes), _o("ExceptionText"), self.text)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@dataclass(frozen=True)
class GetCapabilities:
    pass


@dataclass(frozen=True)
class GetTile:
    world: World
    z: int
    x: int
    y: int


class KvpParameters:
    """A request's parameters by name, case-insensitively (OGC 06-121r3 §11.5.2: names are
    case-insensitive, values are not); the first value of a repeated name counts."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in items:
            self._values.setdefault(name.upper(), value)

    def get(self, name: str) -> str | None:
        return self._values.get(name.upper())

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise OwsError("MissingParameterValue", f"the {name} parameter is required", name)
        return value


def parse_kvp(params: KvpParameters, catalog: WorldCatalog) -> GetCapabilities | GetTile:
    """The KVP request, checked in the order OGC 07-057r7 names its parameters."""
    service = params.require("Service")
    if service.upper() != "WMTS":
        raise OwsError("InvalidParameterValue", f"Service must be WMTS, got {service!r}", "Service")
    request = params.require("Request")
    if request.lower() == "getcapabilities":
        accept = params.get("AcceptVersions")
        if accept and VERSION not in [v.strip() for v in accept.split(",")]:
            raise OwsError(
                "VersionNegotiationFailed",
                f"this server speaks WMTS {VERSION} only, not {accept}",
                "AcceptVersions",
            )
        return GetCapabilities()
    if request.lower() != "gettile":
        raise OwsError(
            "OperationNotSupported",
            f"operation {request!r} is not supported; use GetCapabilities or GetTile",
            "Request",
        )
    return _parse_get_tile(params, catalog)


def _parse_get_tile(params: KvpParameters, catalog: WorldCatalog) -> GetTile:
    version = params.require("Version")
    if version != VERSION:
        raise OwsError("InvalidParameterValue", f"Version must be {VERSION}", "Version")
    layer = params.require("Layer")
    world = catalog.get(layer)
    if world is None:
        raise OwsError(
            "InvalidParameterValue",
            f"unknown layer {layer!r}; layers: {', '.join(catalog.ids())}",
            "Layer",
        )
    style = params.get("Style")
    if style is None:
        raise OwsError("MissingParameterValue", "the Style parameter is required", "Style")
    if style not in ("", DEFAULT_STYLE):
        raise OwsError(
            "InvalidParameterValue", f"unknown style {style!r}; styles: default", "Style"
        )
    tile_format = params.require("Format")
    if tile_format.lower() != TILE_FORMAT:
        raise OwsError(
            "InvalidParameterValue",
            f"format {tile_format!r} is not served; formats: {TILE_FORMAT}",
            "Format",
        )
    matrix_set = params.require("TileMatrixSet")
    if matrix_set != tile_matrix_set_id(world):
        raise OwsError(
            "InvalidParameterValue",
            f"layer {world.id!r} is tiled in {tile_matrix_set_id(world)}, not {matrix_set!r}",
            "TileMatrixSet",
        )
    z = _integer(params, "TileMatrix")
    if not world.min_zoom <= z <= world.max_zoom:
        raise OwsError(
            "InvalidParameterValue",
            f"layer {world.id!r} has tile matrices {world.min_zoom}-{world.max_zoom}, not {z}",
            "TileMatrix",
        )
    y = _integer(params, "TileRow")
    x = _integer(params, "TileCol")
    min_x, min_y, max_x, max_y = world.tile_range(z)
    for name, value, low, high in (("TileRow", y, min_y, max_y), ("TileCol", x, min_x, max_x)):
        if not low <= value <= high:
            raise OwsError(
                "TileOutOfRange",
                f"{name} {value} is outside layer {world.id!r} at tile matrix {z}: "
                f"allowed {low}-{high}",
                name,
            )
    return GetTile(world, z, x, y)


def _integer(params: KvpParameters, name: str) -> int:
    raw = params.require(name)
    if not INTEGER.match(raw):
        raise OwsError(
            "InvalidParameterValue",
            f"{name} must be a non-negative integer without sign or leading zeros, got {raw!r}",
            name,
        )
    return int(raw)
