"""The read path of a tile: Redis cache -> durable store -> generation (DESIGN §2)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aioredis

from app import metrics
from app.completion import CompletionHub
from app.memory_cache import TileMemoryCache
from app.queue import JobQueue
from worker.protocol import Keys, etag_of
from worker.store import TileStore
from worker.units import unit_of_tile
from worker.world import World

# While waiting, look at the cache this often in case a notification was missed
# (e.g. the pub/sub connection dropped for a moment).
_POLL_INTERVAL_S = 1.0


class TileSource(StrEnum):
    MEMORY = "memory"
    CACHE = "cache"
    STORE = "store"
    GENERATED = "generated"


@dataclass(frozen=True)
class Tile:
    png: bytes
    etag: str
    source: TileSource


class GenerationTimeout(Exception):
    """The tile's job is still running after the wait limit."""


class GenerationFailed(Exception):
    """The tile's job failed for good and went to the dead-letter stream."""


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
        self._keys = keys
        self._queue = queue
        self._hub = hub
        self._memory = memory
        self._cache_ttl_s = cache_ttl_s
        self._wait_timeout_s = wait_timeout_s

    async def cached(self, world: World, z: int, x: int, y: int) -> Tile | None:
        png, etag = await self._redis.hmget(
            self._keys.tile(world.id, world.model, z, x, y), "png", "etag"
        )
        if png is None:
            return None
        return Tile(png, etag.decode() if etag else etag_of(png), TileSource.CACHE)

    async def stored(self, world: World, z: int, x: int, y: int) -> Tile | None:
        png = await asyncio.to_thread(self._store.get, world.id, z, x, y)
        if png is None:
            return None
        tile = Tile(png, etag_of(png), TileSource.STORE)
        key = self._keys.tile(world.id, world.model, z, x, y)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"png": png, "etag": tile.etag})
            pipe.expire(key, self._cache_ttl_s)
            await pipe.execute()
        return tile

    async def get(self, world: World, z: int, x: int, y: int) -> Tile:
        """The tile, from the fastest layer that has it; fills the process's memory cache."""
        tile = await self._lookup(world, z, x, y)
        self._memory.put((world.id, z, x, y), tile.png, tile.etag)
        return tile

    async def _lookup(self, world: World, z: int, x: int, y: int) -> Tile:
        tile = await self.cached(world, z, x, y)
        metrics.TILE_CACHE.labels("redis", "hit" if tile else "miss").inc()
        if tile is not None:
            return tile
        tile = await self.stored(world, z, x, y)
        metrics.TILE_CACHE.labels("store", "hit" if tile else "miss").inc()
        if tile is not None:
            return tile
        return await self._generate(world, z, x, y)

    async def _generate(self, world: World, z: int, x: int, y: int) -> Tile:
        unit = unit_of_tile(world, z, x, y)
        started = time.perf_counter()
        deadline = started + self._wait_timeout_s
        with self._hub.waiter(str(unit)) as outcome:
            # The tile may have landed between the store lookup and registering the waiter.
            tile = await self.stored(world, z, x, y)
            if tile is not None:
                return tile
            await self._queue.submit(unit)
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    metrics.TILE_WAIT_TIMEOUTS.inc()
                    raise GenerationTimeout(str(unit))
                try:
                    result = await asyncio.wait_for(
                        asyncio.shield(outcome), min(remaining, _POLL_INTERVAL_S)
                    )
                except TimeoutError:
                    tile = await self.cached(world, z, x, y) or await self.stored(world, z, x, y)
                    if tile is None:
                        continue
                else:
                    if not result.ok:
                        metrics.GENERATION_FAILURES.inc()
                        raise GenerationFailed(result.error or "unknown error")
                    tile = await self.cached(world, z, x, y) or await self.stored(world, z, x, y)
                    if tile is None:  # evicted at once, or a store that is slow to show writes
                        await asyncio.sleep(0.05)
                        continue
                metrics.TILE_WAIT_SECONDS.observe(time.perf_counter() - started)
                return Tile(tile.png, tile.etag, TileSource.GENERATED)
