"""WMTS GetCapabilities documents (RESTful), one per world; tiles stay the XYZ ones."""

from __future__ import annotations

from fastapi import Depends, Request, Response

from app.auth import require_key_for_tiles
from app.routers.factory import WorldRoutes, world_router
from app.routers.tilejson import base_url, key_query
from app.services import services
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
