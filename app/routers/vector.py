"""Vector tiles and the topographic map style of a world's plan:
/worlds/{world}/vector/{z}/{x}/{y}.pbf (MVT) and /worlds/{world}/map-style.json (MapLibre),
and /vector/... and /map-style.json for the default world.

A vector tile is a pure function of (world, z, x, y) drawn from the plan without a model
(core/layers/vector.py), so the API process computes it. The bytes never change for a world,
so they are answered like imagery tiles (ETag, 304, HEAD, immutable Cache-Control) and kept
in a per-process LRU.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Depends, Request, Response

from app.auth import require_key_for_tiles
from app.errors import ApiError
from app.memory_cache import TileMemoryCache
from app.routers.factory import WorldRoutes, world_router
from app.routers.tilejson import base_url, key_query
from app.services import services
from app.tile_url import TILE_FORMAT
from app.validation import parse_tile
from core.layers.map_style import GLYPHS_PATH, StyleUrls, topo_style
from core.layers.vector import NoPlan, vector_tile
from core.plans import plan_spec
from core.protocol import etag_of
from core.tile_cache import TileSource, tile_answer
from core.world import World

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
VECTOR_FORMAT = "pbf"
# Bump when the tiles' content changes: part of the in-process cache key.
VECTOR_VERSION = 1
_memory = TileMemoryCache(32 * 2**20)


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


def _mvt_answer(method: str, if_none_match: str | None, body: bytes, etag: str, source: str):
    status, headers, content = tile_answer(method, if_none_match, body, etag, source)
    # tile_answer speaks PNG; the ETag, 304, HEAD and caching rules are the same for MVT.
    headers = [(k, MVT_MEDIA_TYPE.encode()) if k == b"content-type" else (k, v) for k, v in headers]
    response = Response(content, status_code=status)
    response.raw_headers = headers
    return response


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
        tz, tx, ty = _tile_of(world, z, x, y_file)
        layer = f"vector-v{VECTOR_VERSION}:{world.id}:{spec.key}:{world.tile_size}"
        memory_id = (layer, tz, tx, ty)
        if_none_match = request.headers.get("if-none-match")
        found = _memory.get(memory_id)
        if found is not None:
            return _mvt_answer(request.method, if_none_match, *found, TileSource.MEMORY)
        body = await asyncio.to_thread(vector_tile, world, tz, tx, ty)
        etag = etag_of(body)
        _memory.put(memory_id, body, etag)
        return _mvt_answer(request.method, if_none_match, body, etag, TileSource.GENERATED)

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
