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
from tests.test_serving import CATALOG, tile_at

WORLD = CATALOG.get("testland")

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


def _services(memory_mb: int, pipelined: bool, keys: Keys) -> SimpleNamespace:
    return SimpleNamespace(
        memory=TileMemoryCache(memory_mb * 2**20),
        catalog=CATALOG,
        redis=aioredis.from_url(redis_url()),
        redis_pipe=PipelinedRedis(redis_url()) if pipelined else None,
        tiles=SimpleNamespace(cache=TileCache(keys, 60)),
        cors_headers=lambda _o: [],
    )


def _fast_path(services: SimpleNamespace) -> tuple[TileFastPath, _App]:
    app = _App()
    state = State()
    state.services = services
    return TileFastPath(app, state), app


async def _close(services: SimpleNamespace, keys: Keys) -> None:
    async for key in services.redis.scan_iter(match=f"{keys.prefix}:*"):
        await services.redis.delete(key)
    if services.redis_pipe is not None:
        await services.redis_pipe.aclose()
    await services.redis.aclose()


def _path(tile: tuple[int, int, int], world: str | None = None) -> str:
    z, x, y = tile
    return f"{'/worlds/' + world if world else ''}/{z}/{x}/{y}.png"


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "pooled"])
@pytest.mark.parametrize("memory_mb", [0, 16])
async def test_redis_hits_skip_the_app_and_fill_the_memory_cache(
    memory_mb: int, pipelined: bool
) -> None:
    keys = Keys(f"synthtiles-test-fast-{uuid.uuid4().hex[:8]}")
    services = _services(memory_mb, pipelined, keys)
    fast, app = _fast_path(services)
    cached, missing, changed = (tile_at(WORLD.id, 5, offset) for offset in range(3))
    try:
        await services.redis.hset(
            keys.tile(WORLD.id, WORLD.model, *cached),
            mapping={"png": b"\x89PNG tile", "etag": etag_of(b"\x89PNG tile")},
        )
        status, headers, body = await _get(fast, _path(cached))
        assert (status, body) == (200, b"\x89PNG tile") and app.calls == []
        assert headers[b"x-synthtiles-source"] == b"cache"
        assert headers[b"etag"] == etag_of(b"\x89PNG tile").encode()
        status, headers, _ = await _get(fast, _path(cached, "testland"))
        expected = b"memory" if memory_mb else b"cache"
        assert status == 200 and headers[b"x-synthtiles-source"] == expected
        # A cached tile whose bytes do not hash to its ETag is not served from here.
        await services.redis.hset(
            keys.tile(WORLD.id, WORLD.model, *changed),
            mapping={"png": b"\x89PNG changed", "etag": etag_of(b"\x89PNG tile")},
        )
        # Misses, unknown worlds, malformed paths and that tile go to the app.
        z, x, y = cached
        paths = [
            _path(missing),
            _path(cached, "atlantis"),
            f"/0{z}/{x}/{y}.png",
            _path(changed),
        ]
        for path in paths:
            status, _, _ = await _get(fast, path)
            assert status == 404
        assert app.calls == paths
    finally:
        await _close(services, keys)


@pytest.mark.parametrize("memory_mb", [0, 16])
async def test_redis_entries_the_route_would_refuse_go_to_the_route(memory_mb: int) -> None:
    """A Redis entry is no licence: outside the world's extent (a unit at its edge caches
    tiles just outside it) or beyond its zooms, the route's 404 stands."""
    keys = Keys(f"synthtiles-test-fast-{uuid.uuid4().hex[:8]}")
    services = _services(memory_mb, True, keys)
    fast, app = _fast_path(services)
    min_x, min_y, _, _ = WORLD.tile_range(5)
    refused = [(5, min_x - 1, min_y), (5, min_x, min_y - 1), (WORLD.max_zoom + 1, 0, 0)]
    inside = tile_at(WORLD.id, 5, 0)
    try:
        for tile in (*refused, inside):
            await services.redis.hset(
                keys.tile(WORLD.id, WORLD.model, *tile),
                mapping={"png": b"\x89PNG tile", "etag": etag_of(b"\x89PNG tile")},
            )
        paths = [_path(tile, world) for tile in refused for world in (None, "testland")]
        for path in paths:
            assert (await _get(fast, path))[0] == 404, path
        assert app.calls == paths
        # Nor did the refused tiles reach the memory cache, where a later hit would find them.
        assert all(services.memory.get((WORLD.id, *tile)) is None for tile in refused)
        # The same entries inside the extent are answered here.
        assert (await _get(fast, _path(inside)))[0] == 200 and app.calls == paths
    finally:
        await _close(services, keys)
