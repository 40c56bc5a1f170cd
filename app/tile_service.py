"""The read path of a tile: Redis cache -> durable store -> generation (DESIGN §2)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import redis.asyncio as aioredis
from PIL import Image
from redis.exceptions import RedisError

from app import metrics
from app.completion import (
    ClientGone,
    CompletionHub,
    Disconnected,
    GenerationFailed,
    GenerationTimeout,
    UnitDone,
    wait_for_units,
)
from app.fair_use import FairUse
from app.memory_cache import TileMemoryCache
from app.queue import JobQueue
from core.layout import layout_preview
from core.png import encode_plain
from core.protocol import PLACEHOLDER_WANT_TTL_S, WANT_TTL_S, Keys, Priority, etag_of
from core.store import FileTileStore, TileStore
from core.tile_cache import TileCache, TileSource
from core.units import UnitKey, unit_complete, unit_of_tile
from core.world import World


@dataclass(frozen=True)
class Tile:
    png: bytes
    etag: str
    source: TileSource


def placeholder_from_ancestor(png: bytes, depth: int, x: int, y: int, tile_size: int) -> bytes:
    """The part of an ancestor tile that covers (x, y), upsampled to a whole tile."""
    part = tile_size >> depth
    left, top = (x % (1 << depth)) * part, (y % (1 << depth)) * part
    with Image.open(io.BytesIO(png)) as image:
        crop = image.convert("RGB").crop((left, top, left + max(part, 1), top + max(part, 1)))
        return encode_plain(np.asarray(crop.resize((tile_size, tile_size), Image.BILINEAR)))


def placeholder_from_layout(world: World, z: int, x: int, y: int) -> bytes:
    size = world.tile_size
    return encode_plain(layout_preview(world, z, x * size, y * size, size, size))


class TileService:
    def __init__(
        self,
        client: aioredis.Redis,
        store: TileStore,
        keys: Keys,
        queue: JobQueue,
        hub: CompletionHub,
        memory: TileMemoryCache,
        cache_ttl_s: int,
        wait_timeout_s: float,
    ) -> None:
        self._redis = client
        self._store = store
        self._queue = queue
        self._hub = hub
        self._memory = memory
        self._wait_timeout_s = wait_timeout_s
        # Shared with the hot path (services.tiles.cache), so both verify alike.
        self.cache = TileCache(keys, cache_ttl_s, on_damaged=metrics.CACHE_INTEGRITY_FAILURES.inc)
        self.fair_use: FairUse | None = None
        self.retry_after_s = 5  # the Retry-After a timed-out request is answered with

    @property
    def verify_cached(self) -> bool:
        """Check Redis-cached bytes against their ETag (api.verify_cached_tiles)."""
        return self.cache.verify

    @verify_cached.setter
    def verify_cached(self, verify: bool) -> None:
        self.cache.verify = verify

    async def cached(self, world: World, z: int, x: int, y: int) -> Tile | None:
        # A damaged entry (not the bytes that were published) is dropped: the store answers.
        entry = await self.cache.read(self._redis, world, z, x, y, drop_damaged=True)
        return None if entry is None else Tile(*entry, TileSource.CACHE)

    async def stored(self, world: World, z: int, x: int, y: int) -> Tile | None:
        read = await asyncio.to_thread(self._read_stored, world.id, z, x, y)
        if read is None:
            return None
        tile = Tile(*read, TileSource.STORE)
        try:
            await self.cache.put(self._redis, world, z, x, y, tile.png, tile.etag)
        except RedisError:  # no cache refill while Redis is down; the tile is still served
            metrics.REDIS_ERRORS.inc()
        return tile

    def _read_stored(self, world_id: str, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """A stored tile's (png, etag), hashed here, off the event loop. A file store's tile
        without its ETag attribute (stored before there was one) is given it now, so the
        hot path has the server send its file from then on (app.fastpath); a store that
        cannot keep it (read-only, no user xattrs) still serves the tile."""
        png = self._store.get(world_id, z, x, y)
        if png is None:
            return None
        etag = etag_of(png)
        if isinstance(self._store, FileTileStore):
            self._store.record_etag(world_id, z, x, y, etag)
        return png, etag

    async def _cached_or_none(self, world: World, z: int, x: int, y: int) -> Tile | None:
        """The cached tile; None also when Redis is down (the store is asked next)."""
        try:
            return await self.cached(world, z, x, y)
        except RedisError:
            metrics.REDIS_ERRORS.inc()
            return None

    async def get(
        self,
        world: World,
        z: int,
        x: int,
        y: int,
        client_id: str | None = None,
        gone: Disconnected | None = None,
    ) -> Tile:
        """The tile, from the fastest layer that has it; fills the process's memory cache.
        Generation first passes fair use (Refused) for ``client_id``; waiting for it ends
        early (ClientGone) when ``gone`` says the client left."""
        tile = await self._lookup(world, z, x, y, client_id, gone)
        self._memory.put((world.id, z, x, y), tile.png, tile.etag)
        return tile

    async def _lookup(
        self,
        world: World,
        z: int,
        x: int,
        y: int,
        client_id: str | None,
        gone: Disconnected | None,
    ) -> Tile:
        tile = await self._cached_or_none(world, z, x, y)
        metrics.TILE_CACHE.labels("redis", "hit" if tile else "miss").inc()
        if tile is not None:
            return tile
        tile = await self.stored(world, z, x, y)
        metrics.TILE_CACHE.labels("store", "hit" if tile else "miss").inc()
        if tile is not None:
            return tile
        return await self._generate(world, z, x, y, client_id, gone)

    async def get_or_placeholder(
        self, world: World, z: int, x: int, y: int, client_id: str | None = None
    ) -> Tile:
        """The tile if it exists; else queue it and return its nearest generated ancestor,
        cropped and upsampled (or the layout rendering), without waiting."""
        tile = await self._existing(world, z, x, y)
        if tile is not None:
            self._memory.put((world.id, z, x, y), tile.png, tile.etag)
            return tile
        unit = unit_of_tile(world, z, x, y)
        if self.fair_use is not None:
            await self.fair_use.admit(client_id, unit)
        # Nobody waits here, but the viewer asks again soon: keep the job for a while.
        await self._queue.submit(unit, wanted_for_s=PLACEHOLDER_WANT_TTL_S)
        for depth in range(1, z - world.min_zoom + 1):
            ancestor = await self._existing(world, z - depth, x >> depth, y >> depth)
            if ancestor is not None:
                png = await asyncio.to_thread(
                    placeholder_from_ancestor, ancestor.png, depth, x, y, world.tile_size
                )
                return Tile(png, etag_of(png), TileSource.PLACEHOLDER)
        png = await asyncio.to_thread(placeholder_from_layout, world, z, x, y)
        return Tile(png, etag_of(png), TileSource.PLACEHOLDER)

    async def ensure_units(
        self,
        world: World,
        units: list[UnitKey],
        priority: Priority,
        timeout_s: float,
        on_done: Callable[[], None] | None = None,
        concurrency: int = 64,
    ) -> None:
        """Queue every missing unit and wait until all exist (GenerationTimeout/Failed)."""

        def done(outcome: UnitDone) -> None:
            if outcome.error is not None:
                raise GenerationFailed(f"{outcome.unit}: {outcome.error}")
            if on_done is not None:
                on_done()

        await wait_for_units(
            self._hub,
            units,
            lambda unit: asyncio.to_thread(unit_complete, self._store, world, unit),
            lambda unit: self._queue.submit(unit, priority),
            time.monotonic() + timeout_s,
            done,
            concurrency,
        )

    async def _existing(self, world: World, z: int, x: int, y: int) -> Tile | None:
        return await self._cached_or_none(world, z, x, y) or await self.stored(world, z, x, y)

    async def _generate(
        self,
        world: World,
        z: int,
        x: int,
        y: int,
        client_id: str | None,
        gone: Disconnected | None,
    ) -> Tile:
        unit = unit_of_tile(world, z, x, y)
        started = time.perf_counter()
        deadline = time.monotonic() + self._wait_timeout_s
        with self._hub.waiter(str(unit)) as waiter:
            # The tile may have landed between the store lookup and registering the waiter.
            tile = await self.stored(world, z, x, y)
            if tile is not None:
                return tile
            if self.fair_use is not None:
                await self.fair_use.admit(client_id, unit)
            # Marked wanted as it is queued: never dropped before the hub refreshes the mark.
            await self._queue.submit(unit)
            try:
                tile = await waiter.until(deadline, lambda: self._existing(world, z, x, y), gone)
            except GenerationTimeout:
                metrics.TILE_WAIT_TIMEOUTS.inc()
                # The client is told to come back after Retry-After: keep the job till then.
                await self._queue.want([unit], self.retry_after_s + WANT_TTL_S)
                raise
            except ClientGone:
                metrics.CLIENTS_GONE.inc()
                raise
            except GenerationFailed:
                metrics.GENERATION_FAILURES.inc()
                raise
        metrics.TILE_WAIT_SECONDS.observe(time.perf_counter() - started)
        return Tile(tile.png, tile.etag, TileSource.GENERATED)
