"""The hot path: cached and stored tiles answered without the FastAPI route.

A tile in this process's memory cache, else (granian only) a file of the local tile store
that carries its ETag, else a tile in Redis, is answered here (a file or Redis hit also
fills the memory cache). Everything else (misses, bad paths, other routes) falls through to the
FastAPI app, which validates, reads the store, generates, and fills both caches. The memory
cache holds only tiles answered for a valid request; a stored file or a Redis entry is
answered only inside the world's zoom range and extent (a unit at the extent's edge stores
and caches tiles just outside it, which the route answers 404).

Why the store's file before Redis: the store is the truth, a local file store holds every
tile that Redis holds (workers store a unit before they cache it), and a file in the page
cache costs five system calls here (open, getxattr, fstat, read, close: ~12 us), where a
Redis hit moves the bytes through a socket and hashes them. Redis stays the shared layer
in front of an S3 store, and for files without a stored ETag. The bytes are read here and
handed over like a cached tile's, not sent by granian from the path (``response_file``):
granian opens and reads the file through tokio's blocking thread pool (open, read, a read
for the end: three hand-offs between threads per tile), which cost more than the read
(benchmarks/bench_cached_tiles.py --layers store).

``CachedTiles`` decides and builds the answer; two fronts send it: ``TileFastPath`` (plain
ASGI middleware, under uvicorn: memory and Redis) and ``app.rsgi.RsgiFront`` (granian's
RSGI, which hands the bytes to the server in one call).
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
from app.services import EXPOSED_HEADERS
from app.tile_url import DEFAULT_ROUTE, FAST_PATH, WORLD_ROUTE
from core.store import FileTileStore
from core.tile_cache import TileSource, etag_matches, tile_head

# A request header by its lower-case name (bytes), or None.
HeaderGetter = Callable[[bytes], bytes | None]


@dataclass(slots=True)
class Hit:
    """A cached tile's answer, ready to send; ``record`` it once sent."""

    status: int
    headers: list[tuple[bytes, bytes]]
    text_headers: list[tuple[str, str]]  # the same as text (granian's RSGI takes str)
    body: bytes  # empty for HEAD and 304
    route: str
    layer: str  # the cache layer that answered: "memory", "store" or "redis" (a metric label)
    started: float


class CachedTiles:
    """The hot path's decision, shared by the ASGI and RSGI fronts. ``files``: answer
    stored tiles from the local file store's files (the RSGI front; without it, memory and
    Redis only, as the ASGI front under uvicorn answers)."""

    def __init__(self, state: State, files: bool = False) -> None:
        self.state = state
        self.files = files
        # (world, z) -> the tile range a world has at z (World.tile_range runs mercantile).
        self._ranges: dict[tuple[str, int], tuple[int, int, int, int]] = {}
        # Labelled metric children by (route, method, status, layer): labels() takes a lock
        # and builds its key on every call, a third of a hit's Python time.
        self._counters: dict[tuple[str, str, int, str], tuple[Any, Any, Any]] = {}
        # Answer headers (raw, text) by (status, ETag, layer, length), and CORS headers by
        # Origin for the services they were built for: a tile's never change.
        self._tile_heads: dict[tuple[int, str, str, int], _Head] = {}
        self._cors_heads: dict[bytes | None, _Head] = {}
        self._cors_for: object = None

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
        inm = header(b"if-none-match")
        if_none_match = inm.decode("latin-1") if inm else None
        route = WORLD_ROUTE if match.group(1) else DEFAULT_ROUTE
        tile_id = (world_id, z, x, y)
        entry = services.memory.get(tile_id)
        layer = "memory"
        if entry is None:
            # Files and Redis only for a tile the route would answer: it says 404 off the
            # world's zooms or extent, where a unit at the extent's edge stores (and
            # caches) tiles. The memory cache holds only such tiles.
            if not self._served(services, world_id, z, x, y):
                return None
            store = getattr(services, "store", None) if self.files else None
            # A GET reads the file's bytes (also for a 304, rare for immutable tiles: one
            # open file serves attribute, size and bytes); a HEAD needs only the size.
            stored = (
                store.tile_file(world_id, z, x, y, read=method == "GET")
                if isinstance(store, FileTileStore)
                else None
            )
            if stored is not None and stored.body is None:  # HEAD
                status, headers, text = self._headers(
                    services, if_none_match, stored.etag, "store", stored.size, header(b"origin")
                )
                return Hit(status, headers, text, b"", route, "store", started)
            if stored is not None:
                entry = stored.body, stored.etag
                layer = "store"
                services.memory.put(tile_id, *entry)  # as a Redis hit or the route fills it
            else:
                entry = await _from_redis(services, world_id, z, x, y)
                layer = "redis"
                if entry is None:
                    return None
        png, etag = entry
        status, headers, text = self._headers(
            services, if_none_match, etag, layer, len(png), header(b"origin")
        )
        body = png if status == 200 and method == "GET" else b""
        return Hit(status, headers, text, body, route, layer, started)

    def _headers(
        self,
        services,
        if_none_match: str | None,
        etag: str,
        layer: str,
        length: int,
        origin: bytes | None,
    ) -> tuple[int, list[tuple[bytes, bytes]], list[tuple[str, str]]]:
        """(status, raw headers, the same as text) of an answer, as tile_answer and
        cors_headers build them, built once per (status, ETag, layer, length) and once per
        Origin: building and converting them was most of a memory hit's Python time."""
        status = 304 if etag_matches(if_none_match, etag) else 200
        key = (status, etag, layer, length)
        tile = self._tile_heads.get(key)
        if tile is None:
            _, raw = tile_head(if_none_match, etag, _SOURCES[layer], length)
            tile = _remember(self._tile_heads, key, (raw, text_headers(raw)), _TILE_HEADS_KEPT)
        if services is not self._cors_for:  # another deployment's settings (tests)
            self._cors_heads.clear()
            self._cors_for = services
        cors = self._cors_heads.get(origin)
        if cors is None:
            raw = cors_headers(services, origin)
            cors = _remember(self._cors_heads, origin, (raw, text_headers(raw)), _ORIGINS_KEPT)
        return status, tile[0] + cors[0], tile[1] + cors[1]

    def _served(self, services, world_id: str, z: int, x: int, y: int) -> bool:
        """Whether the route would answer this tile (rather than 404): a world it serves,
        a zoom of that world, inside its extent."""
        key = (world_id, z)
        bounds = self._ranges.get(key)
        if bounds is None:
            world = services.catalog.get(world_id)
            if world is None or not world.min_zoom <= z <= world.max_zoom:
                return False  # not kept: the keys a client can make up are unbounded
            bounds = self._ranges[key] = world.tile_range(z)
        min_x, min_y, max_x, max_y = bounds
        return min_x <= x <= max_x and min_y <= y <= max_y

    def record(self, hit: Hit, method: str) -> None:
        """Count a sent hit: cache layer, request by route and status, latency."""
        label = (hit.route, method, hit.status, hit.layer)
        children = self._counters.get(label)
        if children is None:
            children = self._counters[label] = (
                metrics.TILE_CACHE.labels(hit.layer, "hit"),
                metrics.HTTP_REQUESTS.labels(hit.route, method, str(hit.status)),
                metrics.HTTP_SECONDS.labels(hit.route),
            )
        layer, requests, seconds = children
        layer.inc()
        requests.inc()
        seconds.observe(time.perf_counter() - hit.started)


# Header lists kept, at most (clients choose tiles and Origins): a tile's ~2 KB, ~4 MB in
# all, more tiles than the default 128 MB memory cache holds.
_TILE_HEADS_KEPT = 2048
_ORIGINS_KEPT = 256
_Head = tuple[list[tuple[bytes, bytes]], list[tuple[str, str]]]


def text_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Raw headers as text, as granian's RSGI takes them."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def _remember(memo: dict, key: Any, head: _Head, kept: int) -> _Head:
    if len(memo) >= kept:
        del memo[next(iter(memo))]  # the oldest: cheap, and a rebuilt entry costs little
    memo[key] = head
    return head


# The X-Synthtiles-Source of each layer's answers.
_SOURCES = {"memory": TileSource.MEMORY, "store": TileSource.STORE, "redis": TileSource.CACHE}
_VARY = (b"vary", b"Origin")
_EXPOSE = (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())


def cors_headers(services, origin: bytes | None) -> list[tuple[bytes, bytes]]:
    """nosniff and CORS as the route's middleware sends them (Starlette's CORSMiddleware):
    ``Vary: Origin`` on every answer (one with an Origin carries CORS headers, one without
    does not, so a shared cache must tell them apart), the exposed headers whenever an
    Origin is sent, allowed or not."""
    headers = [NOSNIFF, *services.cors_headers(origin)]
    names = {name for name, _ in headers}
    if origin is not None and _EXPOSE[0] not in names:
        headers.append(_EXPOSE)
    if b"vary" not in names:
        headers.append(_VARY)
    return headers


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
