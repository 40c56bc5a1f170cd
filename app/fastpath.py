"""The hot path: cached tiles answered without the FastAPI route.

A tile in this process's memory cache, else in Redis, is answered here (a Redis hit also
fills the memory cache). Everything else (misses, bad paths, other routes) falls through to
the FastAPI app, which validates, reads the store, generates, and fills both caches. Only
tiles that were generated for a valid request are ever cached, under keys naming the
world's model, so a hit needs no further validation.

``CachedTiles`` decides and builds the answer; two fronts send it: ``TileFastPath`` (plain
ASGI middleware, under uvicorn) and ``app.rsgi.RsgiFront`` (granian's RSGI, which hands the
bytes to the server in one call).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from app import metrics
from app.auth import presented_key
from app.middleware import NOSNIFF
from app.tile_url import DEFAULT_ROUTE, FAST_PATH, WORLD_ROUTE
from core.tile_cache import TileSource, tile_answer

# A request header by its lower-case name (bytes), or None.
HeaderGetter = Callable[[bytes], bytes | None]


@dataclass(slots=True)
class Hit:
    """A cached tile's answer, ready to send; ``record`` it once sent."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: str
    memory: bool  # from this process's LRU (else from Redis)
    started: float


class CachedTiles:
    """The hot path's decision, shared by the ASGI and RSGI fronts."""

    def __init__(self, state: State) -> None:
        self.state = state
        # Labelled metric children by (route, method, status, memory): labels() takes a lock
        # and builds its key on every call, a third of a hit's Python time.
        self._counters: dict[tuple[str, str, int, bool], tuple[Any, Any, Any]] = {}

    async def hit(
        self, method: str, path: str, query_string: bytes, header: HeaderGetter
    ) -> Hit | None:
        """The answer to a GET/HEAD of a cached tile, or None: the app answers."""
        if method != "GET" and method != "HEAD":
            return None
        match = FAST_PATH.match(path)
        services = getattr(self.state, "services", None)
        if match is None or services is None:
            return None
        keys = getattr(self.state, "api_keys", None)
        if keys is not None and keys.tiles_require_key:
            authorization = header(b"authorization")
            presented = presented_key(
                {b"authorization": authorization} if authorization else None, query_string
            )
            if keys.client_of(presented) is None:
                return None  # the route answers 401/403
        started = time.perf_counter()
        world_id, z_text, x_text, y_text = match.groups()
        z, x, y = int(z_text), int(x_text), int(y_text)
        world_id = world_id or services.catalog.default_id
        memory = True
        entry = services.memory.get((world_id, z, x, y))
        if entry is None:
            entry = await _from_redis(services, world_id, z, x, y)
            memory = False
        if entry is None:
            return None
        png, etag = entry
        inm = header(b"if-none-match")
        status, headers, body = tile_answer(
            method,
            inm.decode("latin-1") if inm else None,
            png,
            etag,
            TileSource.MEMORY if memory else TileSource.CACHE,
        )
        headers.append(NOSNIFF)
        headers += services.cors_headers(header(b"origin"))
        route = WORLD_ROUTE if match.group(1) else DEFAULT_ROUTE
        return Hit(status, headers, body, route, memory, started)

    def record(self, hit: Hit, method: str) -> None:
        """Count a sent hit: cache layer, request by route and status, latency."""
        label = (hit.route, method, hit.status, hit.memory)
        children = self._counters.get(label)
        if children is None:
            children = self._counters[label] = (
                metrics.TILE_CACHE.labels("memory" if hit.memory else "redis", "hit"),
                metrics.HTTP_REQUESTS.labels(hit.route, method, str(hit.status)),
                metrics.HTTP_SECONDS.labels(hit.route),
            )
        layer, requests, seconds = children
        layer.inc()
        requests.inc()
        seconds.observe(time.perf_counter() - hit.started)


async def _from_redis(services, world_id: str, z: int, x: int, y: int) -> tuple[bytes, str] | None:
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


class TileFastPath:
    """ASGI middleware: cached tiles answered before any other layer runs."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.tiles = CachedTiles(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope["headers"])
        method = scope["method"]
        hit = await self.tiles.hit(
            method, scope["path"], scope.get("query_string", b""), request_headers.get
        )
        if hit is None:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": hit.status, "headers": hit.headers})
        await send({"type": "http.response.body", "body": hit.body})
        self.tiles.record(hit, method)
