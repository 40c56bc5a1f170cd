"""`serve --server granian` (the default: app/rsgi.py) answers exactly as `--server uvicorn`.

Two real API processes, one of each, share one deployment (Redis, store, worker): every
kind of answer of the tile routes (generated, memory and Redis hits, 304, HEAD, CORS,
placeholder, errors, other routes) must carry the same status, headers and bytes. (granian
also sends stored tiles from their files, before Redis: tests/test_store_hits.py.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.store import ETAG_XATTR
from tests.stack import Stack
from tests.test_serving import tile_at

pytestmark = pytest.mark.integration

# Headers each server sets its own way.
SERVER_HEADERS = {"server", "date"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str, str]]:
    tmp: Path = tmp_path_factory.mktemp("servers")
    stack = Stack(tmp, f"synthtiles-test-{uuid.uuid4().hex[:8]}")
    try:
        granian = stack.start_api(SYNTHTILES_SERVER="granian")
        uvicorn = stack.start_api(SYNTHTILES_SERVER="uvicorn")
        stack.start_worker("w1")
        yield stack, granian, uvicorn
    finally:
        stack.stop()


def _answer(response: httpx.Response, base: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body, with the server's own address (in TileJSON URLs) as BASE."""
    headers = {k: v for k, v in response.headers.items() if k not in SERVER_HEADERS}
    if "allow" in headers:  # Starlette lists a route's methods from a set: any order
        headers["allow"] = ", ".join(sorted(headers["allow"].split(", ")))
    body = response.content.replace(base.encode(), b"BASE")
    if body != response.content:
        headers.pop("content-length")
    return response.status_code, headers, body


def _both(
    servers: tuple[Stack, str, str], method: str, path: str, **headers: str
) -> tuple[tuple, tuple]:
    _, granian, uvicorn = servers
    answers = []
    for base in (granian, uvicorn):
        response = httpx.request(method, f"{base}{path}", headers=headers, timeout=60)
        answers.append(_answer(response, base))
    return answers[0], answers[1]


def test_the_server_header_names_granian_by_default(servers: tuple[Stack, str, str]) -> None:
    _, granian, uvicorn = servers
    assert httpx.get(f"{granian}/healthz").headers["server"] == "granian"
    assert httpx.get(f"{uvicorn}/healthz").headers["server"] == "uvicorn"


def test_tile_answers_are_the_same(servers: tuple[Stack, str, str]) -> None:
    stack, granian, uvicorn = servers
    z, x, y = tile_at("testland", 5, 7)
    path = f"/{z}/{x}/{y}.png"
    # Generated once (through granian), then a Redis hit for uvicorn's first request.
    first = httpx.get(f"{granian}{path}", timeout=60)
    assert first.status_code == 200 and first.headers["x-synthtiles-source"] == "generated"
    redis_hit = httpx.get(f"{uvicorn}{path}", timeout=60)
    assert redis_hit.headers["x-synthtiles-source"] == "cache"
    assert redis_hit.content == first.content
    # Now a memory hit in both processes: the hot path answers, in each server's way.
    memory_granian, memory_uvicorn = _both(servers, "GET", path)
    assert memory_granian == memory_uvicorn
    status, headers, body = memory_granian
    assert (status, body) == (200, first.content)
    assert headers["x-synthtiles-source"] == "memory"
    assert headers["content-length"] == str(len(first.content))
    assert headers["x-content-type-options"] == "nosniff"
    etag = headers["etag"]
    for method, extra in (
        ("HEAD", {}),
        ("GET", {"If-None-Match": etag}),
        ("GET", {"If-None-Match": f'"other", W/{etag}'}),
        ("HEAD", {"If-None-Match": etag}),
        ("GET", {"Origin": "http://exercise.example"}),
    ):
        on_granian, on_uvicorn = _both(servers, method, path, **extra)
        assert on_granian == on_uvicorn, (method, extra)
    head = _both(servers, "HEAD", path)[0]
    assert head[0] == 200 and head[2] == b"" and head[1]["content-length"] == str(len(body))
    not_modified = _both(servers, "GET", path, **{"If-None-Match": etag})[0]
    assert not_modified[0] == 304 and not_modified[2] == b""
    cors = _both(servers, "GET", path, Origin="http://exercise.example")[0]
    assert cors[1]["access-control-allow-origin"] == "*"
    # The same tile through the named-world route.
    assert _both(servers, "GET", f"/worlds/testland{path}")[0][2] == first.content
    # A tile the granian process never served, in Redis since generated: granian sends it
    # from its stored file (before Redis, tests/test_store_hits.py), uvicorn from Redis.
    z2, x2, y2 = tile_at("testland", 5, 8)
    made = httpx.get(f"{uvicorn}/{z2}/{x2}/{y2}.png", timeout=60)
    assert made.status_code == 200
    from_file = httpx.get(f"{granian}/{z2}/{x2}/{y2}.png", timeout=60)
    assert from_file.headers["x-synthtiles-source"] == "store"
    assert from_file.content == made.content
    # A Redis hit on granian: a stored file without its ETag attribute.
    z3, x3, y3 = tile_at("testland", 5, 9)
    made = httpx.get(f"{uvicorn}/{z3}/{x3}/{y3}.png", timeout=60)
    assert made.status_code == 200
    os.removexattr(stack.store_root / "testland" / f"{z3}/{x3}/{y3}.png", ETAG_XATTR)
    from_redis = httpx.get(f"{granian}/{z3}/{x3}/{y3}.png", timeout=60)
    assert from_redis.headers["x-synthtiles-source"] == "cache"
    assert from_redis.content == made.content
    assert _both(servers, "GET", f"/{z3}/{x3}/{y3}.png")[0][1]["vary"] == "Origin"
    assert stack.generations("testland")[f"{z}/{x}/{y}"] == 1


def test_errors_placeholders_and_other_routes_are_the_same(
    servers: tuple[Stack, str, str],
) -> None:
    for method, path, headers in (
        ("GET", "/5/10/012.png", {}),  # leading zero: 400
        ("GET", "/worlds/atlantis/5/10/12.png", {}),  # unknown world: 404
        ("GET", "/25/0/0.png", {}),  # beyond the world's zooms
        ("POST", "/5/10/12.png", {}),  # 405
        ("GET", "/tilejson.json", {}),
        ("GET", "/worlds/testland/tilejson.json", {}),
        ("GET", "/nowhere", {}),
        ("GET", "/healthz", {"Origin": "http://exercise.example"}),
        (
            "OPTIONS",
            "/5/10/12.png",
            {
                "Origin": "http://exercise.example",
                "Access-Control-Request-Method": "GET",
            },
        ),
    ):
        on_granian, on_uvicorn = _both(servers, method, path, **headers)
        assert on_granian == on_uvicorn, (method, path)
    # A placeholder (tile not generated yet): never cached, same headers on both.
    z, x, y = tile_at("testland", 8, 11)
    on_granian, on_uvicorn = _both(
        servers, "GET", f"/{z}/{x}/{y}.png", **{"X-Synthtiles-Placeholder": "parent"}
    )
    for status, headers, _ in (on_granian, on_uvicorn):
        assert status == 200 and headers["x-synthtiles-pending"] == "true"
        assert headers["cache-control"] == "no-store"
    assert on_granian[1] == on_uvicorn[1]


def test_request_bodies_reach_the_app_whole_or_are_refused(
    servers: tuple[Stack, str, str],
) -> None:
    _, granian, uvicorn = servers

    def chunks(total: int):
        for _ in range(total // 8192):
            yield b" " * 8192

    for base in (granian, uvicorn):
        small = httpx.post(f"{base}/export", json={"bbox": "x"}, timeout=30)
        assert small.status_code == 400 and "bbox" in small.text
        chunked = httpx.post(
            f"{base}/export",
            content=chunks(1_000_000),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert chunked.status_code == 413


async def test_the_hot_path_answers_keyed_tiles_only_with_a_valid_key() -> None:
    """CachedTiles (shared by both fronts) with SYNTHTILES_TILES_REQUIRE_KEY: a hit needs a
    valid key, by header or ?key=; anything else goes to the route (401/403 there)."""
    from types import SimpleNamespace

    from starlette.datastructures import State

    from app.auth import ApiKeys, key_hash
    from app.fastpath import CachedTiles
    from app.memory_cache import TileMemoryCache
    from core.protocol import etag_of
    from tests.test_serving import CATALOG

    memory = TileMemoryCache(2**20)
    memory.put(("testland", 5, 10, 12), b"\x89PNG tile", etag_of(b"\x89PNG tile"))
    state = State()
    state.services = SimpleNamespace(memory=memory, catalog=CATALOG, cors_headers=lambda _o: [])
    state.api_keys = ApiKeys(frozenset({key_hash("secret")}), tiles_require_key=True)
    tiles = CachedTiles(state)

    def headers(**values: str):
        return lambda name: values.get(name.decode().replace("-", "_"), "").encode() or None

    path = "/5/10/12.png"
    assert await tiles.hit("GET", path, b"", headers()) is None
    assert await tiles.hit("GET", path, b"key=wrong", headers()) is None
    assert await tiles.hit("GET", path, b"", headers(authorization="Bearer wrong")) is None
    for query, sent in ((b"key=secret", headers()), (b"", headers(authorization="Bearer secret"))):
        hit = await tiles.hit("GET", path, query, sent)
        assert hit is not None and hit.status == 200 and hit.body == b"\x89PNG tile"
    assert await tiles.hit("POST", path, b"key=secret", headers()) is None
    etag = etag_of(b"\x89PNG tile")
    hit = await tiles.hit("HEAD", path, b"key=secret", headers(if_none_match=etag))
    assert hit is not None and (hit.status, hit.body) == (304, b"")
