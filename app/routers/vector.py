"""Vector tiles and the topographic map style of a world's plan:
/worlds/{world}/vector/{z}/{x}/{y}.pbf (MVT) and /worlds/{world}/map-style.json (MapLibre),
and /vector/... and /map-style.json for the default world.

A vector tile is a pure function of (world, z, x, y) drawn from the plan without a model
(core/layers/vector.py), so the API process computes it. The bytes never change for a world,
so they are cached and answered like imagery tiles (app/layer_tiles.py: memory, Redis, ETag,
304, HEAD, immutable Cache-Control).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request, Response

from app.auth import require_key_for_tiles
from app.errors import ApiError
from app.layer_tiles import layer_tile_response
from app.routers.factory import WorldRoutes, world_router
from app.routers.tilejson import base_url, key_query
from app.services import services
from app.tile_url import TILE_FORMAT
from app.validation import parse_tile
from core.layers.map_style import GLYPHS_PATH, StyleUrls, topo_style
from core.layers.vector import NoPlan, vector_tile
from core.plans import plan_spec
from core.world import World

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
VECTOR_FORMAT = "pbf"
# Bump when the tiles' content changes: part of the cache key.
VECTOR_VERSION = 1


def _tile_of(world: World, z: str, x: str, y_file: str) -> tuple[int, int, int]:
    stem, dot, extension = y_file.rpartition(".")
    if not dot or extension != VECTOR_FORMAT:
        raise ApiError(
            400,
            f"vector tiles are {{y}}.{VECTOR_FORMAT} (Mapbox Vector Tiles), got {y_file!r}",
            formats=[VECTOR_FORMAT],
        )
    # The same coordinate, zoom and extent checks (and messages) as imagery tiles.
    return parse_tile(world, z, x, f"{stem}.{TILE_FORMAT}")


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        "/vector/{z}/{x}/{y_file}",
        methods=["GET", "HEAD"],
        response_class=Response,
        summary="Vector tile (MVT) of a world's plan: water, roads, places, land cover, contours",
        default_summary="Vector tile (MVT) of the default world's plan",
        responses={200: {"content": {MVT_MEDIA_TYPE: {}}}, 400: {}, 404: {}},
    )
    async def vector(
        request: Request, z: str, x: str, y_file: str, world: World = routes.world
    ) -> Response:
        spec = plan_spec(world)
        if spec is None:
            raise ApiError(404, str(NoPlan(world)))
        tile = _tile_of(world, z, x, y_file)
        return await layer_tile_response(
            request,
            world,
            tile,
            f"vector-v{VECTOR_VERSION}",
            lambda: vector_tile(world, *tile),
            MVT_MEDIA_TYPE.encode(),
        )

    @routes.route(
        "/map-style.json",
        summary="MapLibre style of a world's topographic map (vector tiles and hillshade)",
        default_summary="MapLibre style of the default world's topographic map",
        responses={404: {}},
    )
    async def map_style(request: Request, world: World = routes.world) -> dict[str, Any]:
        if plan_spec(world) is None:
            raise ApiError(404, str(NoPlan(world)))
        base = base_url(request)
        key = key_query(request)
        urls = StyleUrls(
            vector_tilejson=f"{base}/worlds/{world.id}/vector.json{key}",
            terrain_tilejson=f"{base}/worlds/{world.id}/terrain.json{key}",
            glyphs=f"{base}{GLYPHS_PATH}",
        )
        return topo_style(world, urls, services(request).api.attribution)


router = world_router(_routes, tags=["vector"], dependencies=[Depends(require_key_for_tiles)])
