"""The hot path: cached tiles answered in plain ASGI, without the FastAPI route.

A tile in this process's memory cache, else in Redis, is answered here (a Redis hit also
fills the memory cache). Everything else (misses, bad paths, other routes) falls through to
the FastAPI app, which validates, reads the store, generates, and fills both caches. Only
tiles that were generated for a valid request are ever cached, under keys naming the
world's model, so a hit needs no further validation.
"""

from __future__ import annotations

import time

from redis.exceptions import RedisError
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from app import metrics
from app.auth import presented_key
from app.middleware import NOSNIFF
from app.tile_url import DEFAULT_ROUTE, FAST_PATH, WORLD_ROUTE
from core.tile_cache import TileSource, tile_answer


class TileFastPath:
    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        match = FAST_PATH.match(scope["path"])
        services = getattr(self.state, "services", None)
        if match is None or services is None:
            await self.app(scope, receive, send)
            return
        keys = getattr(self.state, "api_keys", None)
        if (
            keys is not None
            and keys.tiles_require_key
            and keys.client_of(presented_key(dict(scope["headers"]), scope["query_string"])) is None
        ):
            await self.app(scope, receive, send)  # the route answers 401/403
            return
        started = time.perf_counter()
        world_id, z_text, x_text, y_text = match.groups()
        z, x, y = int(z_text), int(x_text), int(y_text)
        world_id = world_id or services.catalog.default_id
        source = TileSource.MEMORY
        entry = services.memory.get((world_id, z, x, y))
        if entry is None:
            entry = await self._from_redis(services, world_id, z, x, y)
            source = TileSource.CACHE
        if entry is None:
            await self.app(scope, receive, send)
            return
        png, etag = entry
        request_headers = dict(scope["headers"])
        inm = request_headers.get(b"if-none-match")
        status, headers, body = tile_answer(
            scope["method"], inm.decode("latin-1") if inm else None, png, etag, source
        )
        headers.append(NOSNIFF)
        headers += services.cors_headers(request_headers.get(b"origin"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        route = WORLD_ROUTE if match.group(1) else DEFAULT_ROUTE
        metrics.TILE_CACHE.labels("memory" if source is TileSource.MEMORY else "redis", "hit").inc()
        metrics.HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
        metrics.HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)

    @staticmethod
    async def _from_redis(
        services, world_id: str, z: int, x: int, y: int
    ) -> tuple[bytes, str] | None:
        """(png, etag) of a tile Redis holds, or None (then the route takes over)."""
        world = services.catalog.get(world_id)
        if world is None:
            return None
        client = getattr(services, "redis_pipe", None) or services.redis
        try:
            # None also for a damaged entry: the route drops it and answers from the store.
            entry = await services.tiles.cache.read(client, world, z, x, y)
        except (RedisError, OSError):
            return None  # the route answers, with its own handling of a Redis outage
        if entry is not None:
            services.memory.put((world_id, z, x, y), *entry)
        return entry
