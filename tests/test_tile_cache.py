"""The tile cache module: key names and fields published deployments hold, TTL, verification,
and the answer both the hot path and the route send."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from core.protocol import Keys, etag_of
from core.tile_cache import TileCache, tile_answer
from tests.stack import redis_url
from tests.test_serving import CATALOG

PNG = b"\x89PNG tile"


def test_answer_304_head_and_get() -> None:
    etag = etag_of(PNG)
    status, headers, body = tile_answer("GET", None, PNG, etag, "cache")
    assert (status, body) == (200, PNG)
    assert dict(headers) == {
        b"etag": etag.encode(),
        b"cache-control": b"public, max-age=31536000, immutable",
        b"x-synthtiles-source": b"cache",
        b"content-type": b"image/png",
        b"content-length": str(len(PNG)).encode(),
    }
    status, headers, body = tile_answer("HEAD", None, PNG, etag, "store")
    assert (status, body, dict(headers)[b"content-length"]) == (200, b"", b"9")
    status, headers, body = tile_answer("GET", f'W/{etag}, "other"', PNG, etag, "memory")
    assert (status, body) == (304, b"")
    assert b"content-length" not in dict(headers)


@pytest.mark.integration
async def test_write_read_verify_and_drop() -> None:
    client = aioredis.from_url(redis_url())
    prefix = f"synthtiles-test-cache-{uuid.uuid4().hex[:8]}"
    damaged: list[int] = []
    cache = TileCache(Keys(prefix), 60, on_damaged=lambda: damaged.append(1))
    world = CATALOG.get("testland")
    key = f"{prefix}:tile:{world.id}:{world.model}:5:10:12"  # the name published data uses
    try:
        assert cache.key(world, 5, 10, 12) == key
        await cache.put(client, world, 5, 10, 12, PNG, etag_of(PNG))
        assert await client.hgetall(key) == {b"png": PNG, b"etag": etag_of(PNG).encode()}
        assert 0 < await client.ttl(key) <= 60
        assert await cache.read(client, world, 5, 10, 12) == (PNG, etag_of(PNG))
        assert await cache.read(client, world, 5, 10, 13) is None
        await client.hset(key, "png", b"\x89PNG changed")
        assert await cache.read(client, world, 5, 10, 12) is None and damaged == [1]
        assert await client.exists(key)  # a reader that cannot write leaves it
        assert await cache.read(client, world, 5, 10, 12, drop_damaged=True) is None
        assert not await client.exists(key)
    finally:
        await client.delete(key)
        await client.aclose()
