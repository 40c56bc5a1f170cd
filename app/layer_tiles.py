"""Tiles of a layer computed from the plan in the API process (terrain, vector): cached like
imagery tiles, in a per-process LRU and then in Redis (a hash {png, etag} with the cache
TTL, under a key of the layer's own so it never meets imagery), answered with an ETag, 304
and immutable Cache-Control by the same code as imagery tiles (core/tile_cache.py).

A layer tile is a pure function of (world definition, layer version, z, x, y), so any
process may compute it and every process computes the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import Request, Response
from redis.exceptions import RedisError

from app.dependencies import TileXYZ
from app.http_caching import tile_response
from app.memory_cache import TileMemoryCache
from app.services import services
from core.plans import plan_spec
from core.protocol import Keys, etag_of
from core.tile_cache import TileCache, TileSource
from core.world import World

log = logging.getLogger("synthtiles.layers")
# Layer tiles are the same bytes in every process: one LRU per process is enough.
_memory = TileMemoryCache(64 * 2**20)


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
    assert spec is not None  # the routes answer 404 for worlds without a plan before
    return f"{world.id}:{spec.key}:{world.tile_size}"


async def layer_tile_response(
    request: Request,
    world: World,
    tile: TileXYZ,
    layer: str,
    draw: Callable[[], bytes],
    media_type: bytes = b"image/png",
) -> Response:
    """Tile ``tile`` of ``layer`` (e.g. "terrain-v1-mapbox"): memory, Redis, else ``draw()``
    (in a thread) and keep it in both. Without Redis the tile is still drawn and served."""
    state = services(request)
    z, x, y = tile
    memory_id = (f"{layer}:{world_key(world)}", z, x, y)
    if_none_match = request.headers.get("if-none-match")

    def answer(body: bytes, etag: str, source: str) -> Response:
        return tile_response(request.method, if_none_match, body, etag, source, media_type)

    found = _memory.get(memory_id)
    if found is not None:
        return answer(*found, TileSource.MEMORY)
    cache = LayerTileCache(
        state.keys, state.redis_settings.cache_ttl_s, layer, state.api.verify_cached_tiles
    )
    try:
        cached = await cache.read(state.redis, world, z, x, y, drop_damaged=True)
    except RedisError as exc:
        log.warning("%s cache unavailable: %s", layer, exc)
        cached = None
    if cached is not None:
        _memory.put(memory_id, *cached)
        return answer(*cached, TileSource.CACHE)
    body = await asyncio.to_thread(draw)
    etag = etag_of(body)
    try:
        await cache.put(state.redis, world, z, x, y, body, etag)
    except RedisError as exc:
        log.warning("%s cache unavailable: %s", layer, exc)
    _memory.put(memory_id, body, etag)
    return answer(body, etag, TileSource.GENERATED)
