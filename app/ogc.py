"""OGC API - Tiles (OGC 20-057) documents over the tiles this server already serves.

One collection per world (its id is the world id), with the tilesets OGC API - Tiles puts
under a geospatial data resource: imagery as map tiles (`/map/tiles`), the plan's vector
tiles (`/tiles`) and elevation as coverage tiles (`/coverage/tiles`), each in the
WebMercatorQuad tile matrix set of OGC 17-083r4 (the XYZ grid: tileMatrix/tileRow/tileCol
are z/y/x). Documents are JSON; their links carry the `?key=` they were asked with.

No dataset-wide tilesets (`/ogc/tiles`): worlds are separate places on the same grid, so
one tile of "all collections" would mix countries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.errors import ApiError

# The XYZ routes' rule for a coordinate (and its 400), private there.
from app.validation import parse_coordinate
from app.wmts import PIXEL_SIZE_M
from core.bbox import ORIGIN
from core.plans import plan_spec
from core.world import MAX_SUPPORTED_ZOOM, World, WorldCatalog

OGC_PREFIX = "/ogc"
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
WEB_MERCATOR_QUAD = "WebMercatorQuad"
WEB_MERCATOR_QUAD_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
GOOGLE_MAPS_COMPATIBLE = "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible"
JSON = "application/json"
# The tile path's variables, as OGC API - Tiles names them.
TILE_TEMPLATE = "{tileMatrix}/{tileRow}/{tileCol}"

_TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
_TMS = "http://www.opengis.net/spec/tms/2.0/conf/"
_COMMON = "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/"
# Only what is implemented: JSON documents, tilesets per collection (geodata), the tile
# encodings of the layers served (conformance()), tile matrix sets and tileset metadata of
# the TMS standard in JSON.
CONFORMANCE = [
    _COMMON + "core",
    _COMMON + "landing-page",
    _COMMON + "json",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    _TILES + "core",
    _TILES + "tileset",
    _TILES + "tilesets-list",
    _TILES + "geodata-tilesets",
    _TMS + "tilematrixset",
    _TMS + "json-tilematrixset",
    _TMS + "tilematrixsetlimits",
    _TMS + "json-tilematrixsetlimits",
    _TMS + "tilesetmetadata",
    _TMS + "json-tilesetmetadata",
]


@dataclass(frozen=True)
class TileLayer:
    """One kind of tiles a world offers, placed where OGC API - Tiles puts its data type."""

    name: str  # route names: ogc_{name}_tile, ...
    data_type: str  # map | vector | coverage
    path: str  # below /ogc/collections/{world}
    media_type: str
    title: str
    # The same tiles' XYZ template below the server's base URL, and their TileJSON.
    xyz: str
    tilejson: str | None
    offered: Callable[[World], bool]

    @property
    def rel(self) -> str:
        return f"{REL}tilesets-{self.data_type}"


def _has_plan(world: World) -> bool:
    return plan_spec(world) is not None


IMAGERY = TileLayer(
    name="map",
    data_type="map",
    path="map/tiles",
    media_type="image/png",
    title="imagery",
    xyz="/worlds/{world}/{z}/{x}/{y}.png",
    tilejson="/worlds/{world}/tilejson.json",
    offered=lambda _world: True,
)
VECTOR = TileLayer(
    name="vector",
    data_type="vector",
    path="tiles",
    media_type="application/vnd.mapbox-vector-tile",
    title="vector tiles of the plan (water, roads, places, land cover, contours)",
    xyz="/worlds/{world}/vector/{z}/{x}/{y}.pbf",
    tilejson="/worlds/{world}/vector.json",
    offered=_has_plan,
)
ELEVATION = TileLayer(
    name="coverage",
    data_type="coverage",
    path="coverage/tiles",
    media_type="image/png",
    title="elevation (Terrain-RGB: height = -10000 + (R*65536 + G*256 + B) * 0.1 m)",
    xyz="/worlds/{world}/terrain/{z}/{x}/{y}.png",
    tilejson="/worlds/{world}/terrain.json",
    offered=_has_plan,
)
TILE_LAYERS = (IMAGERY, VECTOR, ELEVATION)


def tile_matrix_set_id(tile_size: int) -> str:
    """WebMercatorQuad for 256-px tiles; 512-px worlds get the same grid with tiles twice
    as wide (same ids as their WMTS matrix set), which is a set of this server's own."""
    return WEB_MERCATOR_QUAD if tile_size == 256 else f"{WEB_MERCATOR_QUAD}{tile_size}"


def tile_matrix_sets(catalog: WorldCatalog) -> dict[str, int]:
    """The matrix sets the catalog's worlds are tiled in: id -> tile size."""
    sizes = {256, *(world.tile_size for world in catalog)}
    return {tile_matrix_set_id(size): size for size in sorted(sizes)}


class Links:
    """Absolute links below the server's base URL, each carrying the request's `?key=`."""

    def __init__(self, base_url: str, query: str) -> None:
        self.base = base_url.rstrip("/")
        self.query = query

    def href(self, path: str) -> str:
        return f"{self.base}{path}{self.query}"

    def link(self, rel: str, path: str, title: str, media_type: str = JSON) -> dict[str, Any]:
        return {"href": self.href(path), "rel": rel, "type": media_type, "title": title}

    def template(self, rel: str, path: str, title: str, media_type: str) -> dict[str, Any]:
        # `templated` links keep their {variables} unescaped (RFC 6570).
        return {**self.link(rel, path, title, media_type), "templated": True}


def landing_page(links: Links, attribution: str) -> dict[str, Any]:
    return {
        "title": "synthtiles",
        "description": "Synthetic satellite imagery, elevation and vector maps of fictional "
        "countries (OGC API - Tiles); not real places.",
        "attribution": attribution,
        "links": [
            links.link("self", f"{OGC_PREFIX}/", "this document"),
            links.link("service-desc", "/openapi.json", "the API definition (OpenAPI 3)"),
            links.link("service-doc", "/docs", "the API documentation", "text/html"),
            links.link(f"{REL}conformance", f"{OGC_PREFIX}/conformance", "conformance classes"),
            links.link(f"{REL}data", f"{OGC_PREFIX}/collections", "the worlds (collections)"),
            links.link(f"{REL}tiling-schemes", f"{OGC_PREFIX}/tileMatrixSets", "tile matrix sets"),
        ],
    }


# The conformance class of each tile encoding.
ENCODINGS = {"image/png": _TILES + "png", "application/vnd.mapbox-vector-tile": _TILES + "mvt"}


def conformance() -> dict[str, Any]:
    encodings = {ENCODINGS[layer.media_type] for layer in TILE_LAYERS}
    return {"conformsTo": CONFORMANCE + sorted(encodings)}


def _matrix(tile_size: int, z: int) -> dict[str, Any]:
    cell_size = 2 * ORIGIN / (tile_size * 2**z)
    return {
        "id": str(z),
        "scaleDenominator": cell_size / PIXEL_SIZE_M,
        "cellSize": cell_size,
        "cornerOfOrigin": "topLeft",
        "pointOfOrigin": [-ORIGIN, ORIGIN],
        "tileWidth": tile_size,
        "tileHeight": tile_size,
        "matrixWidth": 2**z,
        "matrixHeight": 2**z,
    }


def tile_matrix_set(identifier: str, tile_size: int, links: Links) -> dict[str, Any]:
    """The set's definition in the JSON encoding of OGC 17-083r4; WebMercatorQuad as its
    annex D defines it (zooms 0-24, origin top left at (-ORIGIN, ORIGIN))."""
    standard = tile_size == 256
    document: dict[str, Any] = {
        "id": identifier,
        "title": "Google Maps Compatible for the World"
        if standard
        else f"Web Mercator quad with {tile_size}-pixel tiles",
    }
    if standard:
        document["uri"] = WEB_MERCATOR_QUAD_URI
    document |= {"crs": WEB_MERCATOR, "orderedAxes": ["X", "Y"]}
    if standard:
        document["wellKnownScaleSet"] = GOOGLE_MAPS_COMPATIBLE
    document["tileMatrices"] = [_matrix(tile_size, z) for z in range(MAX_SUPPORTED_ZOOM + 1)]
    document["links"] = [
        links.link("self", f"{OGC_PREFIX}/tileMatrixSets/{identifier}", "this tile matrix set")
    ]
    return document


def tile_matrix_set_list(catalog: WorldCatalog, links: Links) -> dict[str, Any]:
    items = []
    for identifier, tile_size in tile_matrix_sets(catalog).items():
        item: dict[str, Any] = {"id": identifier, "title": identifier}
        if tile_size == 256:
            item["uri"] = WEB_MERCATOR_QUAD_URI
        item["crs"] = WEB_MERCATOR
        item["links"] = [
            links.link(
                f"{REL}tiling-scheme",
                f"{OGC_PREFIX}/tileMatrixSets/{identifier}",
                f"the {identifier} tile matrix set",
            )
        ]
        items.append(item)
    return {
        "tileMatrixSets": items,
        "links": [links.link("self", f"{OGC_PREFIX}/tileMatrixSets", "this document")],
    }


def resolve_tile_matrix_set(catalog: WorldCatalog, identifier: str) -> int:
    """The tile size of a matrix set this server has, or a 404 naming those it has."""
    sets = tile_matrix_sets(catalog)
    if identifier not in sets:
        raise ApiError(404, f"unknown tile matrix set {identifier!r}", tileMatrixSets=sorted(sets))
    return sets[identifier]


def _collection_path(world: World) -> str:
    return f"{OGC_PREFIX}/collections/{world.id}"


def collection(world: World, links: Links) -> dict[str, Any]:
    """A world as an OGC API - Common collection, linking to its tilesets lists."""
    base = _collection_path(world)
    name = world.name or world.id
    own = [
        links.link(layer.rel, f"{base}/{layer.path}", f"{name}: {layer.title} tilesets")
        for layer in TILE_LAYERS
        if layer.offered(world)
    ]
    return {
        "id": world.id,
        "title": name,
        "description": f"Synthetic satellite imagery of the fictional world {world.id!r} "
        f"(seed {world.seed}, model {world.model}); not a real place.",
        "extent": {"spatial": {"bbox": [list(world.extent)], "crs": CRS84}},
        "crs": [WEB_MERCATOR],
        "links": [
            links.link("self", base, f"the world {name}"),
            *own,
            links.link(
                "alternate",
                f"/worlds/{world.id}/tilejson.json",
                f"{name}: imagery TileJSON",
            ),
        ],
    }


def collections(catalog: WorldCatalog, links: Links) -> dict[str, Any]:
    return {
        "collections": [collection(world, links) for world in catalog],
        "links": [links.link("self", f"{OGC_PREFIX}/collections", "the worlds")],
    }


def tileset_path(world: World, layer: TileLayer, identifier: str) -> str:
    return f"{_collection_path(world)}/{layer.path}/{identifier}"


def _tileset_links(
    world: World, layer: TileLayer, identifier: str, links: Links
) -> list[dict[str, Any]]:
    return [
        links.link("self", tileset_path(world, layer, identifier), f"{layer.title} tileset"),
        links.link(
            f"{REL}tiling-scheme",
            f"{OGC_PREFIX}/tileMatrixSets/{identifier}",
            f"the {identifier} tile matrix set",
        ),
    ]


def tilesets(world: World, layer: TileLayer, links: Links) -> dict[str, Any]:
    """The tilesets list of one layer of a world: one tileset, in its matrix set."""
    identifier = tile_matrix_set_id(world.tile_size)
    item: dict[str, Any] = {
        "title": f"{world.name or world.id}: {layer.title}",
        "dataType": layer.data_type,
        "crs": WEB_MERCATOR,
    }
    if world.tile_size == 256:
        item["tileMatrixSetURI"] = WEB_MERCATOR_QUAD_URI
    item["links"] = _tileset_links(world, layer, identifier, links)
    return {
        "tilesets": [item],
        "links": [links.link("self", f"{_collection_path(world)}/{layer.path}", "this document")],
    }


def tile_matrix_limits(world: World) -> list[dict[str, Any]]:
    limits = []
    for z in range(world.min_zoom, world.max_zoom + 1):
        min_x, min_y, max_x, max_y = world.tile_range(z)
        limits.append(
            {
                "tileMatrix": str(z),
                "minTileRow": min_y,
                "maxTileRow": max_y,
                "minTileCol": min_x,
                "maxTileCol": max_x,
            }
        )
    return limits


def tileset(
    world: World,
    layer: TileLayer,
    links: Links,
    vector_layers: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The tileset metadata (OGC 17-083r4 TileSetMetadata): where tiles are, which exist
    (tileMatrixSetLimits: the world's zooms and extent), and the tile URL template."""
    identifier = tile_matrix_set_id(world.tile_size)
    name = world.name or world.id
    west, south, east, north = world.extent
    lon, lat = world.center_lonlat
    document: dict[str, Any] = {
        "title": f"{name}: {layer.title}",
        "description": f"{layer.title} of the fictional world {world.id!r}; the same tiles as "
        f"{layer.xyz.format(world=world.id, z='{z}', x='{x}', y='{y}')}",
        "dataType": layer.data_type,
        "crs": WEB_MERCATOR,
    }
    if world.tile_size == 256:
        document["tileMatrixSetURI"] = WEB_MERCATOR_QUAD_URI
    document |= {
        "tileMatrixSetLimits": tile_matrix_limits(world),
        "boundingBox": {"lowerLeft": [west, south], "upperRight": [east, north], "crs": CRS84},
        "centerPoint": {"coordinates": [lon, lat], "tileMatrix": str(world.min_zoom), "crs": CRS84},
    }
    if vector_layers:
        # The MVT layers a tile holds, with their fields (TileJSON's vector_layers).
        document["layers"] = [
            {
                "id": layer_id,
                "dataType": "vector",
                "description": spec["description"],
                "minTileMatrix": str(world.min_zoom),
                "maxTileMatrix": str(world.max_zoom),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {
                        field: {"description": text} for field, text in spec["fields"].items()
                    },
                },
            }
            for layer_id, spec in vector_layers.items()
        ]
    tile_links = _tileset_links(world, layer, identifier, links)
    tile_links.append(links.link(f"{REL}geodata", _collection_path(world), f"the world {name}"))
    tile_links.append(
        links.template(
            "item",
            f"{tileset_path(world, layer, identifier)}/{TILE_TEMPLATE}",
            f"{layer.title} tiles",
            layer.media_type,
        )
    )
    if layer.tilejson is not None:
        tile_links.append(
            links.link("alternate", layer.tilejson.format(world=world.id), "TileJSON")
        )
    document["links"] = tile_links
    return document


def tile_in_limits(
    world: World, tile_matrix: str, tile_row: str, tile_col: str
) -> tuple[int, int, int]:
    """(z, x, y) of a tile path inside the tileset's limits; outside them a 404 (OGC 20-057
    requirement /req/core/tc-error) that says what the limits are."""
    z = parse_coordinate("tileMatrix", tile_matrix)
    row = parse_coordinate("tileRow", tile_row)
    col = parse_coordinate("tileCol", tile_col)
    if not world.min_zoom <= z <= world.max_zoom:
        raise ApiError(
            404,
            f"tileMatrix {z} is outside the tile matrices {world.min_zoom}-{world.max_zoom} "
            f"of world {world.id!r}",
            minTileMatrix=str(world.min_zoom),
            maxTileMatrix=str(world.max_zoom),
        )
    min_x, min_y, max_x, max_y = world.tile_range(z)
    if not (min_y <= row <= max_y and min_x <= col <= max_x):
        raise ApiError(
            404,
            f"tile {z}/{row}/{col} (tileMatrix/tileRow/tileCol) is outside the limits of "
            f"world {world.id!r} at tileMatrix {z}: rows {min_y}-{max_y}, "
            f"columns {min_x}-{max_x}",
            minTileRow=min_y,
            maxTileRow=max_y,
            minTileCol=min_x,
            maxTileCol=max_x,
        )
    return z, col, row
