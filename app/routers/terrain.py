"""Elevation tiles: /worlds/{world}/terrain/{z}/{x}/{y}.png (and /terrain/... for the default
world) in Terrain-RGB (Mapbox) or, with ?encoding=terrarium, Terrarium encoding.

A terrain tile is a pure function of (world, z, x, y, encoding) drawn from the plan without
a model (core/layers/terrain.py), so it is computed in the API process. It is cached like
an imagery tile: a per-process LRU, then Redis (a hash {png, etag} with the cache TTL, under
a key of its own so it never meets imagery), answered with an ETag, 304 and immutable
Cache-Control by the same code as imagery tiles (core/tile_cache.py).
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import Depends, Query, Request, Response
from redis.exceptions import RedisError

from app.auth import require_key_for_tiles
from app.dependencies import TileXYZ
from app.errors import ApiError
from app.http_caching import tile_response
from app.memory_cache import TileMemoryCache
from app.routers.factory import WorldRoutes, world_router
from app.services import services
from app.tile_url import TILE_ROUTE
from core.layers.terrain import (
    ENCODING_HELP,
    TERRAIN_VERSION,
    Encoding,
    NoPlanRelief,
    terrain_tile,
)
from core.plans import plan_spec
from core.protocol import Keys, etag_of
from core.tile_cache import TileCache, TileSource
from core.world import World

log = logging.getLogger("synthtiles.terrain")
# The `?encoding=` parameter, shared with the terrain TileJSON (app/routers/tilejson.py).
ENCODING_QUERY = Query("mapbox", description=ENCODING_HELP)
# Terrain tiles are the same bytes in every process: one LRU per process is enough.
_memory = TileMemoryCache(32 * 2**20)


class LayerTileCache(TileCache):
    """A TileCache for a layer computed from the plan: its own key per world definition
    (the plan's hash and the tile size: a world id reused with another definition in
    another deployment sharing a prefix never meets these bytes) and layer version."""

    def __init__(self, keys: Keys, ttl_s: int, layer: str, verify: bool = True) -> None:
        super().__init__(keys, ttl_s, verify)
        self.layer = layer

    def key(self, world: World, z: int, x: int, y: int) -> str:
        return f"{self.keys.prefix}:{self.layer}:{world_key(world)}:{z}:{x}:{y}"


def world_key(world: World) -> str:
    spec = plan_spec(world)
    assert spec is not None  # checked by the route before
    return f"{world.id}:{spec.key}:{world.tile_size}"


async def _terrain(request: Request, world: World, tile: TileXYZ, encoding: Encoding) -> Response:
    if plan_spec(world) is None:
        raise ApiError(404, str(NoPlanRelief(world)))
    state = services(request)
    z, x, y = tile
    layer = f"terrain-v{TERRAIN_VERSION}-{encoding}"
    memory_id = (f"{layer}:{world_key(world)}", z, x, y)
    if_none_match = request.headers.get("if-none-match")
    found = _memory.get(memory_id)
    if found is not None:
        return tile_response(request.method, if_none_match, *found, TileSource.MEMORY)
    cache = LayerTileCache(
        state.keys, state.redis_settings.cache_ttl_s, layer, state.api.verify_cached_tiles
    )
    try:
        cached = await cache.read(state.redis, world, z, x, y, drop_damaged=True)
    except RedisError as exc:  # the tile can be made without Redis: serve it anyway
        log.warning("terrain cache unavailable: %s", exc)
        cached = None
    if cached is not None:
        _memory.put(memory_id, *cached)
        return tile_response(request.method, if_none_match, *cached, TileSource.CACHE)
    png = await asyncio.to_thread(terrain_tile, world, z, x, y, encoding)
    etag = etag_of(png)
    try:
        await cache.put(state.redis, world, z, x, y, png, etag)
    except RedisError as exc:
        log.warning("terrain cache unavailable: %s", exc)
    _memory.put(memory_id, png, etag)
    return tile_response(request.method, if_none_match, png, etag, TileSource.GENERATED)


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        "/terrain" + TILE_ROUTE,
        methods=["GET", "HEAD"],
        response_class=Response,
        summary="Elevation tile of a world (Terrain-RGB or Terrarium PNG)",
        default_summary="Elevation tile of the default world (Terrain-RGB or Terrarium PNG)",
        responses={200: {"content": {"image/png": {}}}, 400: {}, 404: {}},
    )
    async def terrain(
        request: Request,
        world: World = routes.world,
        tile: TileXYZ = routes.tile,
        encoding: Encoding = ENCODING_QUERY,
    ) -> Response:
        return await _terrain(request, world, tile, encoding)


router = world_router(_routes, tags=["terrain"], dependencies=[Depends(require_key_for_tiles)])
