"""The ASGI hot path: memory hits, then Redis hits, answered without the FastAPI app."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
import redis.asyncio as aioredis
from starlette.datastructures import State

from app.fastpath import TileFastPath
from app.memory_cache import TileMemoryCache
from app.redis_pipe import PipelinedRedis
from core.protocol import Keys, etag_of
from core.tile_cache import TileCache
from tests.stack import redis_url
from tests.test_serving import CATALOG

pytestmark = pytest.mark.integration  # talks to the real Redis


class _App:
    """The FastAPI app behind the hot path: here it only records that it was reached."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _get(fast: TileFastPath, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request"}

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    await fast(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "pooled"])
@pytest.mark.parametrize("memory_mb", [0, 16])
async def test_redis_hits_skip_the_app_and_fill_the_memory_cache(
    memory_mb: int, pipelined: bool
) -> None:
    client = aioredis.from_url(redis_url())
    keys = Keys(f"synthtiles-test-fast-{uuid.uuid4().hex[:8]}")
    world = CATALOG.get("testland")
    memory = TileMemoryCache(memory_mb * 2**20)
    services = SimpleNamespace(
        memory=memory,
        catalog=CATALOG,
        redis=client,
        redis_pipe=PipelinedRedis(redis_url()) if pipelined else None,
        tiles=SimpleNamespace(cache=TileCache(keys, 60)),
        cors_headers=lambda _o: [],
    )
    app = _App()
    state = State()
    state.services = services
    fast = TileFastPath(app, state)
    try:
        await client.hset(
            keys.tile(world.id, world.model, 5, 10, 12),
            mapping={"png": b"\x89PNG tile", "etag": etag_of(b"\x89PNG tile")},
        )
        status, headers, body = await _get(fast, "/5/10/12.png")
        assert (status, body) == (200, b"\x89PNG tile") and app.calls == []
        assert headers[b"x-synthtiles-source"] == b"cache"
        assert headers[b"etag"] == etag_of(b"\x89PNG tile").encode()
        status, headers, _ = await _get(fast, "/worlds/testland/5/10/12.png")
        expected = b"memory" if memory_mb else b"cache"
        assert status == 200 and headers[b"x-synthtiles-source"] == expected
        # A cached tile whose bytes do not hash to its ETag is not served from here.
        await client.hset(
            keys.tile(world.id, world.model, 5, 10, 14),
            mapping={"png": b"\x89PNG changed", "etag": etag_of(b"\x89PNG tile")},
        )
        # Misses, unknown worlds, malformed paths and that tile go to the app.
        paths = ["/5/10/13.png", "/worlds/atlantis/5/10/12.png", "/05/10/12.png", "/5/10/14.png"]
        for path in paths:
            status, _, _ = await _get(fast, path)
            assert status == 404
        assert app.calls == paths
    finally:
        for y in (12, 14):
            await client.delete(keys.tile(world.id, world.model, 5, 10, y))
        if services.redis_pipe is not None:
            await services.redis_pipe.aclose()
        await client.aclose()
