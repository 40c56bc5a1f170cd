"""The hot path's pipelined Redis reads, against the real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from app.redis_pipe import PipelinedRedis
from tests.stack import redis_url

pytestmark = pytest.mark.integration  # talks to the real Redis


async def test_concurrent_reads_get_their_own_replies() -> None:
    client = aioredis.from_url(redis_url())
    pipe = PipelinedRedis(redis_url())
    prefix = f"synthtiles-test-pipe-{uuid.uuid4().hex[:8]}"
    try:
        for i in range(50):
            await client.hset(f"{prefix}:{i}", mapping={"png": b"x" * (i * 1000), "etag": str(i)})
        replies = await asyncio.gather(
            *(pipe.hmget(f"{prefix}:{i % 60}", "png", "etag") for i in range(300))
        )
        for i, (png, etag) in enumerate(replies):
            if i % 60 < 50:
                assert png == b"x" * ((i % 60) * 1000) and etag == str(i % 60).encode()
            else:
                assert png is None and etag is None  # a missing key
        # The connection dies (Redis restarted, say): a read in flight fails (its caller
        # falls back to the normal path), and the next one reconnects.
        await client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        outcomes = []
        for _ in range(3):
            try:
                outcomes.append(await pipe.hmget(f"{prefix}:2", "etag"))
            except RedisConnectionError:
                outcomes.append("failed")
        assert outcomes[-1] == [b"2"] and set(map(str, outcomes)) <= {"failed", "[b'2']"}
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await client.set(f"{prefix}:s", "v")
            await pipe.hmget(f"{prefix}:s", "png")
    finally:
        await pipe.aclose()
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_database_selection_and_tls_refusal() -> None:
    url = redis_url().rsplit("/", 1)[0] + "/5"
    client = aioredis.from_url(url)
    key = f"synthtiles-test-pipe-db-{uuid.uuid4().hex[:8]}"
    pipe = PipelinedRedis(url)
    try:
        await client.hset(key, mapping={"png": b"in db 5"})
        assert await pipe.hmget(key, "png") == [b"in db 5"]
    finally:
        await pipe.aclose()
        await client.delete(key)
        await client.aclose()
    with pytest.raises(ValueError, match="not TLS"):
        PipelinedRedis("rediss://example.org:6380/0")
