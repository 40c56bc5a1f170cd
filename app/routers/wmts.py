"""WMTS GetCapabilities documents (RESTful), one per world; tiles stay the XYZ ones."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from app.auth import require_key_for_tiles
from app.routers.tilejson import base_url, key_query
from app.services import services
from app.validation import resolve_world
from app.wmts import capabilities
from core.world import World

router = APIRouter(tags=["metadata"], dependencies=[Depends(require_key_for_tiles)])
_XML = {"content": {"application/xml": {}}, "description": "WMTS 1.0.0 capabilities"}


def _capabilities(request: Request, world: World) -> Response:
    document = capabilities(
        world, base_url(request), services(request).api.attribution, key_query(request)
    )
    return Response(document, media_type="application/xml")


@router.get(
    "/WMTSCapabilities.xml",
    summary="WMTS capabilities of the default world",
    response_class=Response,
    responses={200: _XML},
)
async def default_capabilities(request: Request) -> Response:
    return _capabilities(request, services(request).catalog.default)


@router.get(
    "/worlds/{world_id}/WMTSCapabilities.xml",
    summary="WMTS capabilities of a world (for QGIS, ArcGIS, GDAL)",
    response_class=Response,
    responses={200: _XML},
)
async def world_capabilities(request: Request, world_id: str) -> Response:
    return _capabilities(request, resolve_world(services(request).catalog, world_id))
