"""OGC API - Tiles under /ogc: landing page, conformance, tile matrix sets, one collection
per world and its tilesets (documents built in app/ogc.py). Tiles are answered by the
layers' own XYZ routes' code, so they are the same bytes with the same ETag, 304 and HEAD.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from app import ogc
from app.auth import require_key_for_tiles
from app.errors import ApiError
from app.ogc import OGC_PREFIX, TileLayer
from app.openapi import tile_responses
from app.routers.terrain import answer_terrain_tile as terrain_tile
from app.routers.tilejson import base_url, key_query
from app.routers.tiles import answer_tile as imagery_tile
from app.services import services
from app.validation import resolve_world
from core.layers.vector import VECTOR_LAYERS
from core.world import World

TileAnswer = Callable[[Request, World, tuple[int, int, int]], Awaitable[Response]]


async def elevation_tile(request: Request, world: World, xyz: tuple[int, int, int]) -> Response:
    # Coverage tiles are Terrain-RGB, the encoding the tileset metadata names.
    return await terrain_tile(request, world, xyz, "mapbox")


async def vector_tile(request: Request, world: World, xyz: tuple[int, int, int]) -> Response:
    """The vector route keeps its answer inside its endpoint, so clients are sent to the
    XYZ URL (the one vector.json gives; ETag, 304 and HEAD are answered there)."""
    z, x, y = xyz
    url = f"{base_url(request)}/worlds/{world.id}/vector/{z}/{x}/{y}.pbf{key_query(request)}"
    # The redirect never changes for a world: clients may keep it and skip the hop.
    return RedirectResponse(url, 307, headers={"Cache-Control": "public, max-age=86400"})


# What answers each layer's tiles: the code of its XYZ route (private there: no other
# caller had named it), so the answers are the XYZ answers.
ANSWERS: dict[str, TileAnswer] = {
    ogc.IMAGERY.name: imagery_tile,
    ogc.VECTOR.name: vector_tile,
    ogc.ELEVATION.name: elevation_tile,
}

REDIRECTS = {ogc.VECTOR.name: {"307": {"description": "the tile's XYZ URL (Location)"}}}

WORLD_ID = Path(alias="collectionId", description="a world id (see /ogc/collections)")
TMS_ID = Path(alias="tileMatrixSetId", description="WebMercatorQuad")


async def json_only(
    f: str | None = Query(None, description="the document's format: json (the only one)"),
) -> None:
    """OGC API - Common's `f`: JSON is the one encoding served (no HTML pages)."""
    if f is not None and f != "json":
        raise ApiError(400, f"unsupported format f={f!r}; documents are served as f=json")


def _links(request: Request) -> ogc.Links:
    return ogc.Links(base_url(request), key_query(request))


def _world(request: Request, world_id: str) -> World:
    return resolve_world(services(request).catalog, world_id)


def _offered(world: World, layer: TileLayer) -> World:
    if not layer.offered(world):
        raise ApiError(
            404,
            f"world {world.id!r} has no {layer.title}: it is drawn without a plan",
            tilesets=[
                f"{OGC_PREFIX}/collections/{world.id}/{other.path}"
                for other in ogc.TILE_LAYERS
                if other.offered(world)
            ],
        )
    return world


def _matrix_set_of(world: World, identifier: str, request: Request) -> None:
    ogc.resolve_tile_matrix_set(services(request).catalog, identifier)  # known at all
    own = ogc.tile_matrix_set_id(world.tile_size)
    if identifier != own:
        raise ApiError(
            404,
            f"world {world.id!r} is tiled in {own}, not {identifier}",
            tileMatrixSets=[own],
        )


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
# The errors a document can answer (the Error schema is app/openapi.py's).
DOCUMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "f is not json", "content": _ERROR},
    401: {"description": "a key is required (SYNTHTILES_TILES_REQUIRE_KEY)", "content": _ERROR},
    403: {"description": "the key is not valid", "content": _ERROR},
    404: {"description": "unknown world, tile matrix set or layer", "content": _ERROR},
}

router = APIRouter(
    prefix=OGC_PREFIX,
    tags=["OGC API - Tiles"],
    dependencies=[Depends(require_key_for_tiles)],
    responses=DOCUMENT_RESPONSES,
)
documents = [Depends(json_only)]


@router.get("/", name="ogc_landing_page", summary="OGC API landing page", dependencies=documents)
async def landing_page(request: Request) -> dict[str, Any]:
    return ogc.landing_page(_links(request), services(request).api.attribution)


# `/ogc` without its slash is the same page (clients are given either).
router.add_api_route(
    "", landing_page, include_in_schema=False, dependencies=documents, name="landing_page_bare"
)


@router.get(
    "/conformance",
    name="ogc_conformance",
    summary="OGC API conformance classes",
    dependencies=documents,
)
async def conformance() -> dict[str, Any]:
    return ogc.conformance()


@router.get(
    "/tileMatrixSets",
    name="ogc_tile_matrix_sets",
    summary="Tile matrix sets (tiling schemes)",
    dependencies=documents,
)
async def tile_matrix_sets(request: Request) -> dict[str, Any]:
    return ogc.tile_matrix_set_list(services(request).catalog, _links(request))


@router.get(
    "/tileMatrixSets/{tileMatrixSetId}",
    name="ogc_tile_matrix_set",
    summary="A tile matrix set (OGC 17-083r4 JSON)",
    dependencies=documents,
)
async def tile_matrix_set(request: Request, identifier: str = TMS_ID) -> dict[str, Any]:
    tile_size = ogc.resolve_tile_matrix_set(services(request).catalog, identifier)
    return ogc.tile_matrix_set(identifier, tile_size, _links(request))


@router.get(
    "/collections",
    name="ogc_collections",
    summary="The worlds, as collections",
    dependencies=documents,
)
async def collections(request: Request) -> dict[str, Any]:
    return ogc.collections(services(request).catalog, _links(request))


@router.get(
    "/collections/{collectionId}",
    name="ogc_collection",
    summary="A world, as a collection",
    dependencies=documents,
)
async def collection(request: Request, world_id: str = WORLD_ID) -> dict[str, Any]:
    return ogc.collection(_world(request, world_id), _links(request))


def _layer_routes(layer: TileLayer) -> None:
    """A layer's tilesets list, tileset and tiles below /collections/{collectionId}."""
    base = f"/collections/{{collectionId}}/{layer.path}"
    answer = ANSWERS[layer.name]
    vector_layers = VECTOR_LAYERS if layer is ogc.VECTOR else None

    async def tilesets(request: Request, world_id: str = WORLD_ID) -> dict[str, Any]:
        world = _offered(_world(request, world_id), layer)
        return ogc.tilesets(world, layer, _links(request))

    async def tileset(
        request: Request, world_id: str = WORLD_ID, identifier: str = TMS_ID
    ) -> dict[str, Any]:
        world = _offered(_world(request, world_id), layer)
        _matrix_set_of(world, identifier, request)
        return ogc.tileset(world, layer, _links(request), vector_layers)

    async def tile(
        request: Request,
        world_id: str = WORLD_ID,
        identifier: str = TMS_ID,
        tile_matrix: str = Path(alias="tileMatrix", description="zoom"),
        tile_row: str = Path(alias="tileRow", description="row (XYZ y)"),
        tile_col: str = Path(alias="tileCol", description="column (XYZ x)"),
    ) -> Response:
        world = _offered(_world(request, world_id), layer)
        _matrix_set_of(world, identifier, request)
        xyz = ogc.tile_in_limits(world, tile_matrix, tile_row, tile_col)
        return await answer(request, world, xyz)

    router.add_api_route(
        base,
        tilesets,
        name=f"ogc_{layer.name}_tilesets",
        summary=f"A world's {layer.data_type} tilesets ({layer.title})",
        dependencies=documents,
    )
    router.add_api_route(
        f"{base}/{{tileMatrixSetId}}",
        tileset,
        name=f"ogc_{layer.name}_tileset",
        summary=f"A world's {layer.data_type} tileset metadata",
        dependencies=documents,
    )
    router.add_api_route(
        f"{base}/{{tileMatrixSetId}}/{ogc.TILE_TEMPLATE}",
        tile,
        methods=["GET", "HEAD"],
        response_class=Response,
        name=f"ogc_{layer.name}_tile",
        summary=f"A {layer.data_type} tile ({layer.media_type}): "
        + ("a 307 to its XYZ URL" if layer.name in REDIRECTS else "the XYZ tile's bytes"),
        responses={
            **tile_responses(),
            **REDIRECTS.get(layer.name, {}),
            "200": {"description": "the tile", "content": {layer.media_type: {}}},
            "404": {
                "description": "unknown world or tile matrix set, tile outside the limits",
                "content": _ERROR,
            },
        },
    )


for _layer in ogc.TILE_LAYERS:
    _layer_routes(_layer)
