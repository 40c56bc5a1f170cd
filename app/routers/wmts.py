"""WMTS: GetCapabilities documents (RESTful), one per world, and the KVP binding
(`/wmts?SERVICE=WMTS&REQUEST=...`) for older clients; tiles stay the XYZ ones."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from app.auth import require_key_for_tiles
from app.errors import ApiError
from app.fair_use import Refused
from app.routers.factory import WorldRoutes, world_router
from app.routers.tilejson import base_url, key_query

# The XYZ route's own answer (private there: tiles.py has no other caller to name it for).
from app.routers.tiles import answer_tile
from app.services import services
from app.wmts import (
    KVP_PATH,
    GetCapabilities,
    KvpParameters,
    OwsError,
    parse_kvp,
    service_capabilities,
)
from app.wmts import capabilities as wmts_capabilities
from core.world import World

_XML = {"content": {"application/xml": {}}, "description": "WMTS 1.0.0 capabilities"}


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        "/WMTSCapabilities.xml",
        summary="WMTS capabilities of a world (for QGIS, ArcGIS, GDAL)",
        default_summary="WMTS capabilities of the default world",
        response_class=Response,
        responses={200: _XML},
    )
    async def capabilities(request: Request, world: World = routes.world) -> Response:
        document = wmts_capabilities(
            world, base_url(request), services(request).api.attribution, key_query(request)
        )
        return Response(document, media_type="application/xml")


router = world_router(_routes, tags=["metadata"], dependencies=[Depends(require_key_for_tiles)])

_PNG = {"image/png": {}}
_KEY_ERROR = {
    "description": "a key is required, or is not valid",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _report(description: str) -> dict[str, Any]:
    return {
        "description": f"OWS exception report: {description}",
        "content": {"application/xml": {}},
    }


kvp_router = APIRouter(tags=["metadata"], dependencies=[Depends(require_key_for_tiles)])


def _exception_report(error: OwsError) -> Response:
    # Like every error of the API, never cached (a 503 turns into a tile moments later).
    return Response(
        error.report(),
        status_code=error.status,
        media_type="application/xml",
        headers={"Cache-Control": "no-store", **error.headers},
    )


@kvp_router.api_route(
    KVP_PATH,
    methods=["GET", "HEAD"],
    response_class=Response,
    summary="WMTS KVP binding: GetCapabilities (every world a layer) and GetTile",
    description="`?SERVICE=WMTS&REQUEST=GetCapabilities`, or `REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={world}&STYLE=default&FORMAT=image/png&TILEMATRIXSET=GoogleMapsCompatible"
    "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}` (names in any case); errors are OWS "
    "exception reports.",
    responses={
        200: {"description": "capabilities or tile", "content": {"application/xml": {}, **_PNG}},
        304: {"description": "If-None-Match matched the tile's ETag"},
        400: _report("a parameter is missing or invalid, or the tile is out of range"),
        401: _KEY_ERROR,
        403: _KEY_ERROR,
        429: _report("this client's budget of tiles needing generation is spent"),
        500: _report("the tile's job failed for good"),
        501: _report("OperationNotSupported: a request other than GetCapabilities or GetTile"),
        503: _report("still generating, queue full, or Redis unavailable"),
    },
)
async def wmts_kvp(request: Request) -> Response:
    state = services(request)
    try:
        parsed = parse_kvp(KvpParameters(request.query_params.multi_items()), state.catalog)
        if isinstance(parsed, GetCapabilities):
            document = service_capabilities(
                state.catalog, base_url(request), state.api.attribution, key_query(request)
            )
            return Response(document, media_type="application/xml")
        try:
            # The XYZ route's own answer: same bytes, ETag, 304 and HEAD handling.
            return await answer_tile(request, parsed.world, (parsed.z, parsed.x, parsed.y))
        except (ApiError, Refused) as exc:  # still generating, refused, failed
            headers = dict(getattr(exc, "headers", None) or {})
            if isinstance(exc, Refused):
                headers["Retry-After"] = str(exc.retry_after)
            raise OwsError(
                "NoApplicableCode", exc.message, status=exc.status, headers=headers
            ) from exc
    except OwsError as error:
        return _exception_report(error)
