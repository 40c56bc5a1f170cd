"""The Redis tile cache and the answer a tile is served with, in one place.

Each tile is one hash ``{png, etag}`` under ``Keys.tile`` (``{p}:tile:{world}:{model}:{z}:{x}:{y}``:
the model in the name, so a new model version never serves old tiles), with a TTL so that a
``volatile-lru`` Redis evicts tiles and never the queue. Workers write it after storing a
unit, the API refills it from the store, and the hot path and the tile service read it.
Published deployments hold tiles under these names and fields: never change them.

The headers are here too, so the hot path (raw ASGI) and the FastAPI route answer a tile
with the same bytes, ETag, Cache-Control and source.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from core.protocol import Keys, etag_of
from core.world import World

log = logging.getLogger("synthtiles.cache")

# Tiles never change once generated.
TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"
_CACHE_CONTROL = TILE_CACHE_CONTROL.encode()


class TileSource(StrEnum):
    """Where an answered tile came from (the X-Synthtiles-Source header)."""

    PLACEHOLDER = "placeholder"
    MEMORY = "memory"
    CACHE = "cache"
    STORE = "store"
    GENERATED = "generated"


class TileCache:
    """One deployment's Redis tile cache: its key names, TTL and read-time verification.

    Clients are passed per call: the hot path reads through its pipelined connection, the
    tile service through the API's pool, the worker writes on its blocking client.
    """

    def __init__(
        self,
        keys: Keys,
        ttl_s: int,
        verify: bool = True,
        on_damaged: Callable[[], None] | None = None,
    ) -> None:
        self.keys = keys
        self.ttl_s = ttl_s
        self.verify = verify  # hash the bytes read against their ETag (api.verify_cached_tiles)
        self._on_damaged = on_damaged  # the API counts damaged entries; core knows no metrics

    def key(self, world: World, z: int, x: int, y: int) -> str:
        return self.keys.tile(world.id, world.model, z, x, y)

    async def read(
        self, client: Any, world: World, z: int, x: int, y: int, drop_damaged: bool = False
    ) -> tuple[bytes, str] | None:
        """(png, etag) of a cached tile in one HMGET, or None on a miss or a damaged entry.
        ``client`` is anything with an async ``hmget`` (redis.asyncio, app.redis_pipe);
        ``drop_damaged`` deletes a damaged entry through it (the pipelined reader cannot
        write: the hot path leaves that to the route). Redis errors propagate."""
        key = self.key(world, z, x, y)
        png, etag = await client.hmget(key, "png", "etag")
        if png is None:
            return None
        checked = self.checked_etag(png, etag)
        if checked is None:
            if drop_damaged:
                await client.delete(key)
            return None
        return png, checked

    def checked_etag(self, png: bytes, stored_etag: bytes | None) -> str | None:
        """The ETag to serve cached bytes with, or None when they no longer hash to it
        (changed or damaged in Redis): then they are not served as immutable, and the caller
        goes to the store, which holds the truth."""
        if stored_etag is None:
            return etag_of(png)
        etag = stored_etag.decode()
        if self.verify and etag_of(png) != etag:
            if self._on_damaged is not None:
                self._on_damaged()
            log.warning("a cached tile's bytes do not match its ETag %s; using the store", etag)
            return None
        return etag

    def write(
        self, pipe: Any, world: World, z: int, x: int, y: int, png: bytes, etag: str | None = None
    ) -> None:
        """Queue a tile's hash and its TTL, side by side, on ``pipe`` (a sync or asyncio
        pipeline; the caller executes it). A worker queues a whole batch on one
        non-transactional pipeline, so readers are not held up while it is written."""
        key = self.key(world, z, x, y)
        pipe.hset(key, mapping={"png": png, "etag": etag or etag_of(png)})
        pipe.expire(key, self.ttl_s)

    async def put(
        self, client: Any, world: World, z: int, x: int, y: int, png: bytes, etag: str
    ) -> None:
        """Write one tile (asyncio client) in a MULTI: one round trip, and the key never
        exists without its TTL (a volatile-lru Redis would never evict it)."""
        async with client.pipeline(transaction=True) as pipe:
            self.write(pipe, world, z, x, y, png, etag)
            await pipe.execute()


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match semantics (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


def tile_head(
    if_none_match: str | None,
    etag: str,
    source: str,
    length: int,
    media_type: bytes = b"image/png",
) -> tuple[int, list[tuple[bytes, bytes]]]:
    """(status, raw headers) of a tile of ``length`` bytes: 304 when the client's copy
    matches (no type, no length), else 200. ``tile_answer`` and the hot path's answers from
    the store's files (sent by the server from the file) share it, so both say the same."""
    headers = [
        (b"etag", etag.encode()),
        (b"cache-control", _CACHE_CONTROL),
        (b"x-synthtiles-source", source.encode()),
    ]
    if etag_matches(if_none_match, etag):
        return 304, headers
    headers.append((b"content-type", media_type))
    headers.append((b"content-length", str(length).encode()))
    return 200, headers


def tile_answer(
    method: str,
    if_none_match: str | None,
    png: bytes,
    etag: str,
    source: str,
    media_type: bytes = b"image/png",
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, raw headers, body) of a tile (a PNG unless ``media_type`` says otherwise):
    304 when the client's copy matches, HEAD gets the headers and length without the body.
    CORS and nosniff are added by the caller (the hot path) or the middleware (the route)."""
    status, headers = tile_head(if_none_match, etag, source, len(png), media_type)
    return status, headers, png if status == 200 and method != "HEAD" else b""


def placeholder_headers() -> dict[str, str]:
    """A stand-in while the tile is generated: never cached; the viewer asks again shortly."""
    return {
        "Cache-Control": "no-store",
        "X-Synthtiles-Pending": "true",
        "X-Synthtiles-Source": TileSource.PLACEHOLDER.value,
        "Retry-After": "1",
    }
