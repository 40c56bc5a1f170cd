"""Stored tiles answered by granian from their files (issue #23): a tile of the local file
store whose file carries its ETag (``user.synthtiles.etag``) is read and answered by the
RSGI front's hot path, after the memory LRU and before Redis, exactly as the route answers it.

Real processes: a worker, a granian API and a uvicorn API (the reference: its hot path has
no files, so with Redis emptied its answer is the route's store read), both with the
memory LRU off, sharing one Redis and one store.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.datastructures import State

from app.fastpath import CachedTiles
from app.memory_cache import TileMemoryCache
from app.tile_service import TileService
from core.protocol import Keys, etag_of
from core.store import ETAG_XATTR, FileTileStore, TileFile
from core.tile_cache import TileSource, tile_answer
from tests.conftest import require_redis
from tests.stack import Stack, metric_value
from tests.test_rsgi_server import SERVER_HEADERS
from tests.test_serving import CATALOG, tile_at

WORLD = CATALOG.get("testland")


class Deployment:
    def __init__(self, stack: Stack, granian: str, uvicorn: str, keyed: str) -> None:
        self.stack = stack
        self.granian = granian
        self.uvicorn = uvicorn
        self.keyed = keyed  # granian, tiles need a key ("secret")

    def file(self, z: int, x: int, y: int) -> Path:
        return self.stack.store_root / WORLD.id / str(z) / str(x) / f"{y}.png"

    def redis_key(self, z: int, x: int, y: int) -> str:
        return f"{self.stack.prefix}:tile:{WORLD.id}:{WORLD.model}:{z}:{x}:{y}"

    def empty_redis(self) -> None:
        for key in self.stack.redis.scan_iter(match=f"{self.stack.prefix}:tile:*"):
            self.stack.redis.delete(key)

    def made(self, offset: int) -> tuple[int, int, int]:
        """A tile generated (through uvicorn, or before as a neighbour's dependency), stored,
        and then emptied from Redis."""
        z, x, y = tile_at(WORLD.id, 6, offset)
        response = httpx.get(f"{self.uvicorn}/{z}/{x}/{y}.png", timeout=60)
        assert response.status_code == 200
        assert response.headers["x-synthtiles-source"] in ("generated", "store")
        assert self.file(z, x, y).read_bytes() == response.content
        self.empty_redis()
        return z, x, y


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_redis()
    tmp: Path = tmp_path_factory.mktemp("store-hits")
    stack = Stack(tmp, f"synthtiles-test-{uuid.uuid4().hex[:8]}", SYNTHTILES_MEMORY_CACHE_MB="0")
    try:
        granian = stack.start_api(SYNTHTILES_SERVER="granian")
        uvicorn = stack.start_api(SYNTHTILES_SERVER="uvicorn")
        keyed = stack.start_api(
            SYNTHTILES_SERVER="granian",
            SYNTHTILES_API_KEYS="secret",
            SYNTHTILES_TILES_REQUIRE_KEY="true",
        )
        stack.start_worker("w1")
        yield Deployment(stack, granian, uvicorn, keyed)
    finally:
        stack.stop()


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in SERVER_HEADERS}
    return response.status_code, headers, response.content


def _route_answer(
    deployment: Deployment, method: str, path: str, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """The route's answer from the store: uvicorn (no files on its hot path), Redis empty."""
    deployment.empty_redis()
    response = httpx.request(method, f"{deployment.uvicorn}{path}", headers=headers, timeout=60)
    deployment.empty_redis()  # the route refilled it
    return _answer(response)


@pytest.mark.integration
def test_a_stored_tile_is_sent_from_its_file_as_the_route_answers_it(
    deployment: Deployment,
) -> None:
    z, x, y = deployment.made(0)
    path = f"/{z}/{x}/{y}.png"
    stored = deployment.file(z, x, y).read_bytes()
    etag = os.getxattr(deployment.file(z, x, y), ETAG_XATTR).decode()
    assert etag == etag_of(stored)

    from_file = httpx.get(f"{deployment.granian}{path}", timeout=30)
    status, headers, body = _answer(from_file)
    assert (status, body) == (200, stored)
    assert headers["x-synthtiles-source"] == "store"
    assert headers["etag"] == etag
    assert headers["content-length"] == str(len(stored))
    assert "transfer-encoding" not in headers
    # Neither Redis nor the route was asked: the route refills Redis when it reads the store.
    assert not deployment.stack.redis.exists(deployment.redis_key(z, x, y))
    assert (status, headers, body) == _route_answer(deployment, "GET", path)

    for method, extra in (
        ("HEAD", {}),
        ("GET", {"If-None-Match": etag}),
        ("GET", {"If-None-Match": f'"other", W/{etag}'}),
        ("GET", {"If-None-Match": '"other"'}),
        ("HEAD", {"If-None-Match": etag}),
        ("GET", {"Origin": "http://exercise.example"}),
        ("GET", {"X-Synthtiles-Placeholder": "parent"}),
    ):
        deployment.empty_redis()
        ours = _answer(httpx.request(method, f"{deployment.granian}{path}", headers=extra))
        assert not deployment.stack.redis.exists(deployment.redis_key(z, x, y)), (method, extra)
        assert ours == _route_answer(deployment, method, path, **extra), (method, extra)
        if method == "HEAD" and not extra:
            assert ours[2] == b"" and ours[1]["content-length"] == str(len(stored))
        if "If-None-Match" in extra and extra["If-None-Match"] != '"other"':
            assert ours[0] == 304 and ours[2] == b"" and "content-length" not in ours[1]
    cors = _answer(httpx.get(f"{deployment.granian}{path}", headers={"Origin": "http://a.example"}))
    assert cors[1]["access-control-allow-origin"] == "*"
    assert "etag" in cors[1]["access-control-expose-headers"].lower()
    # The named-world route: the same file, the same answer.
    named = httpx.get(f"{deployment.granian}/worlds/{WORLD.id}{path}", timeout=30)
    assert named.headers["x-synthtiles-source"] == "store" and named.content == stored


@pytest.mark.integration
def test_the_file_is_preferred_to_redis_and_counted_as_a_store_hit(
    deployment: Deployment,
) -> None:
    z, x, y = deployment.made(1)
    path = f"/{z}/{x}/{y}.png"
    # Redis holds the tile too (as after a generation): the file answers all the same.
    assert httpx.get(f"{deployment.uvicorn}{path}").headers["x-synthtiles-source"] == "store"
    assert deployment.stack.redis.exists(deployment.redis_key(z, x, y))
    assert httpx.get(f"{deployment.uvicorn}{path}").headers["x-synthtiles-source"] == "cache"
    metrics = f"{deployment.granian}/metrics"
    before = httpx.get(metrics, timeout=10).text
    for _ in range(5):
        assert httpx.get(f"{deployment.granian}{path}").headers["x-synthtiles-source"] == "store"
    after = httpx.get(metrics, timeout=10).text

    def delta(**labels: str) -> float:
        name = "synthtiles_tile_cache_total"
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta(layer="store", result="hit") == 5
    assert delta(layer="redis", result="hit") == 0
    assert delta(layer="redis", result="miss") == 0  # the route, which counts it, never ran
    requests = {"route": "/{z}/{x}/{y_file}", "method": "GET", "status": "200"}
    name = "synthtiles_http_requests_total"
    assert metric_value(after, name, **requests) - metric_value(before, name, **requests) == 5


@pytest.mark.integration
def test_files_without_their_stored_etag_are_given_it_by_the_route(
    deployment: Deployment,
) -> None:
    """A file stored without its ETag (before there was one, or a damaged one) is answered
    by the route, which reads the store and gives the file its ETag; then it is sent from
    the file like any other."""
    for offset, damage in ((2, None), (3, b"not an etag"), (4, b'"' + b"0" * 31 + b'"')):
        z, x, y = deployment.made(offset)
        path = f"/{z}/{x}/{y}.png"
        file = deployment.file(z, x, y)
        etag = etag_of(file.read_bytes())
        if damage is None:
            os.removexattr(file, ETAG_XATTR)
        else:
            os.setxattr(file, ETAG_XATTR, damage)
        first = httpx.get(f"{deployment.granian}{path}", timeout=30)
        # The route read the store (it refills Redis) and kept the ETag with the file.
        assert first.headers["x-synthtiles-source"] == "store"
        assert first.headers["etag"] == etag
        assert deployment.stack.redis.exists(deployment.redis_key(z, x, y)), damage
        assert os.getxattr(file, ETAG_XATTR) == etag.encode(), damage
        deployment.empty_redis()
        for _ in range(3):  # the file answers: Redis is never refilled
            again = httpx.get(f"{deployment.granian}{path}", timeout=30)
            assert again.headers["x-synthtiles-source"] == "store"
            assert again.headers["etag"] == etag
            assert again.content == first.content == file.read_bytes()
        assert not deployment.stack.redis.exists(deployment.redis_key(z, x, y)), damage
        assert _answer(again) == _route_answer(deployment, "GET", path)


@pytest.mark.integration
def test_stored_files_the_route_would_refuse_go_to_the_route(deployment: Deployment) -> None:
    """A file is no licence: outside the world's extent or zooms, or of a world not served,
    the route's 404 stands (a unit at the extent's edge stores tiles just outside it)."""
    png = deployment.file(*deployment.made(5)).read_bytes()
    min_x, min_y, _, _ = WORLD.tile_range(6)
    store = FileTileStore(deployment.stack.store_root)
    for world_id, z, x, y in (
        (WORLD.id, 6, min_x - 1, min_y),  # outside the extent
        (WORLD.id, WORLD.max_zoom + 1, 0, 0),  # beyond the world's zooms
        ("atlantis", 6, min_x, min_y),  # not a world this deployment serves
    ):
        assert store.put_if_absent(world_id, z, x, y, png)
        assert store.tile_file(world_id, z, x, y) is not None
        prefix = "" if world_id == WORLD.id else f"/worlds/{world_id}"
        path = f"{prefix}/{z}/{x}/{y}.png"
        ours = _answer(httpx.get(f"{deployment.granian}{path}", timeout=30))
        assert ours[0] in (400, 404), path
        assert ours == _route_answer(deployment, "GET", path), path


@pytest.mark.integration
def test_keyed_tiles_need_a_valid_key_on_the_file_path_too(deployment: Deployment) -> None:
    z, x, y = deployment.made(6)
    url = f"{deployment.keyed}/{z}/{x}/{y}.png"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, params={"key": "wrong"}, timeout=30).status_code == 403
    bad = httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=30)
    assert bad.status_code == 403 and bad.headers.get("x-synthtiles-source") is None
    stored = deployment.file(z, x, y).read_bytes()
    for params, headers in (({"key": "secret"}, {}), ({}, {"Authorization": "Bearer secret"})):
        deployment.empty_redis()
        good = httpx.get(url, params=params, headers=headers, timeout=30)
        assert good.status_code == 200 and good.content == stored
        assert good.headers["x-synthtiles-source"] == "store"
        assert not deployment.stack.redis.exists(deployment.redis_key(z, x, y))
    etag = etag_of(stored)
    head = httpx.head(url, params={"key": "secret"}, headers={"If-None-Match": etag})
    assert head.status_code == 304
    assert httpx.head(url, headers={"If-None-Match": etag}).status_code == 401


# The store's side, without servers.


def test_put_if_absent_keeps_the_etag_with_the_file(tmp_path: Path) -> None:
    store = FileTileStore(tmp_path)
    assert store.tile_file("w", 3, 1, 2) is None
    assert store.put_if_absent("w", 3, 1, 2, b"\x89PNG one")
    stored = store.tile_file("w", 3, 1, 2)
    assert stored is not None
    assert stored.etag == etag_of(b"\x89PNG one") and stored.size == len(b"\x89PNG one")
    assert Path(stored.path) == (tmp_path / "w/3/1/2.png").resolve()
    # Write-once: a second write changes neither the bytes nor their ETag.
    assert not store.put_if_absent("w", 3, 1, 2, b"\x89PNG two")
    assert store.tile_file("w", 3, 1, 2) == stored
    assert store.get("w", 3, 1, 2) == b"\x89PNG one"
    assert not [p for p in (tmp_path / "w/3/1").iterdir() if p.name.endswith(".tmp")]


def test_a_filesystem_without_xattrs_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*_args, **_kwargs):
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", unsupported)
    store = FileTileStore(tmp_path)
    assert store.put_if_absent("w", 3, 1, 2, b"\x89PNG one")
    assert store.get("w", 3, 1, 2) == b"\x89PNG one"
    assert store.tile_file("w", 3, 1, 2) is None  # served by reading it, as before
    assert store.record_etag("w", 3, 1, 2) is None
    monkeypatch.undo()
    # Tiles stored without it can be given it later, from their own bytes.
    assert store.record_etag("w", 3, 1, 2) == etag_of(b"\x89PNG one")
    assert store.tile_file("w", 3, 1, 2).etag == etag_of(b"\x89PNG one")
    assert store.record_etag("w", 3, 1, 3) is None


def _tile_service(store: FileTileStore) -> TileService:
    """A tile service over ``store`` whose Redis is down (nothing listens on port 1): its
    store reads answer all the same, without refilling the cache."""
    return TileService(
        aioredis.from_url("redis://127.0.0.1:1/0"),
        store,
        Keys("synthtiles-test-unused"),
        queue=None,  # type: ignore[arg-type]  (a store read queues nothing)
        hub=None,  # type: ignore[arg-type]
        memory=TileMemoryCache(0),
        cache_ttl_s=60,
        wait_timeout_s=1,
    )


async def test_a_store_read_gives_the_file_its_etag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileTileStore(tmp_path)
    z, x, y = tile_at(WORLD.id, 6, 0)
    store.put_if_absent(WORLD.id, z, x, y, b"\x89PNG tile")
    file = tmp_path / WORLD.id / f"{z}/{x}/{y}.png"
    os.removexattr(file, ETAG_XATTR)
    service = _tile_service(store)
    tile = await service.stored(WORLD, z, x, y)
    assert tile is not None and (tile.png, tile.etag) == (b"\x89PNG tile", etag_of(b"\x89PNG tile"))
    assert store.tile_file(WORLD.id, z, x, y) == TileFile(str(file), tile.etag, len(tile.png))
    # A file that carries it is not written again (a store read on every Redis miss).
    monkeypatch.setattr(os, "setxattr", lambda *_a: pytest.fail("the ETag was there"))
    assert await service.stored(WORLD, z, x, y) == tile
    assert store.record_etag(WORLD.id, z, x, y) == tile.etag
    assert await service.stored(WORLD, z, x + 1, y) is None


@pytest.mark.parametrize("error", [errno.EROFS, errno.EACCES, errno.ENOTSUP])
async def test_a_store_that_cannot_keep_etags_still_serves_its_tiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    """A read-only store, a file the API may not write, a filesystem without user xattrs."""
    store = FileTileStore(tmp_path)
    z, x, y = tile_at(WORLD.id, 6, 0)
    store.put_if_absent(WORLD.id, z, x, y, b"\x89PNG tile")
    os.removexattr(tmp_path / WORLD.id / f"{z}/{x}/{y}.png", ETAG_XATTR)

    def refused(*_args) -> None:
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(os, "setxattr", refused)
    for _ in range(2):
        tile = await _tile_service(store).stored(WORLD, z, x, y)
        assert tile is not None and tile.etag == etag_of(b"\x89PNG tile")
        assert store.tile_file(WORLD.id, z, x, y) is None  # read again next time
    assert store.record_etag(WORLD.id, z, x, y, tile.etag) is None


async def test_only_the_front_with_files_and_a_file_store_look_at_files(
    tmp_path: Path,
) -> None:
    store = FileTileStore(tmp_path)
    z, x, y = tile_at(WORLD.id, 6, 0)
    png = b"\x89PNG tile"
    store.put_if_absent(WORLD.id, z, x, y, png)
    asked: list[tuple] = []

    async def read(_client, world, *tile):
        asked.append(tile)
        return None

    def cached_tiles(files: bool, tile_store: object, memory_mb: int = 0) -> CachedTiles:
        state = State()
        state.services = SimpleNamespace(
            memory=TileMemoryCache(memory_mb * 2**20),
            catalog=CATALOG,
            store=tile_store,
            redis=None,
            tiles=SimpleNamespace(cache=SimpleNamespace(read=read)),
            cors_headers=lambda _o: [],
        )
        return CachedTiles(state, files=files)

    def no_header(_name: bytes) -> None:
        return None

    path = f"/{z}/{x}/{y}.png"
    hit = await cached_tiles(True, store).hit("GET", path, b"", no_header)
    assert hit is not None and (hit.status, hit.layer, hit.body) == (200, "store", png)
    assert dict(hit.headers)[b"content-length"] == str(len(png)).encode()
    assert dict(hit.headers)[b"x-synthtiles-source"] == b"store"
    head = await cached_tiles(True, store).hit("HEAD", path, b"", no_header)
    assert head is not None and (head.status, head.layer, head.body) == (200, "store", b"")
    assert dict(head.headers) == dict(hit.headers)
    etag = etag_of(png).encode()
    for method in ("GET", "HEAD"):
        matched = await cached_tiles(True, store).hit(
            method, path, b"", lambda name: etag if name == b"if-none-match" else None
        )
        assert matched is not None and (matched.status, matched.body) == (304, b"")
    # A file hit fills the memory cache, as a Redis hit does.
    remembered = cached_tiles(True, store, memory_mb=1)
    assert (await remembered.hit("GET", path, b"", no_header)).layer == "store"
    again = await remembered.hit("GET", path, b"", no_header)
    assert again is not None and (again.layer, again.body) == ("memory", png)
    assert asked == []
    # The ASGI front (no files), and a store that is not a local file store: Redis, as before.
    assert await cached_tiles(False, store).hit("GET", path, b"", no_header) is None
    not_files = SimpleNamespace(tile_file=lambda *_a, **_k: pytest.fail("not a file store"))
    assert await cached_tiles(True, not_files).hit("GET", path, b"", no_header) is None
    assert asked == [(z, x, y), (z, x, y)]


def test_tile_file_reads_the_bytes_only_when_asked(tmp_path: Path) -> None:
    store = FileTileStore(tmp_path)
    store.put_if_absent("w", 3, 1, 2, b"\x89PNG one")
    described = store.tile_file("w", 3, 1, 2)
    read = store.tile_file("w", 3, 1, 2, read=True)
    assert described is not None and described.body is None
    assert read == TileFile(described.path, described.etag, described.size, b"\x89PNG one")
    assert store.tile_file("w", 3, 1, 3, read=True) is None
    os.setxattr(tmp_path / "w/3/1/2.png", ETAG_XATTR, b"not an etag")
    assert store.tile_file("w", 3, 1, 2, read=True) is None
    os.removexattr(tmp_path / "w/3/1/2.png", ETAG_XATTR)
    assert store.tile_file("w", 3, 1, 2, read=True) is None


def test_the_hot_paths_headers_are_built_once_and_stay_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Header lists kept per tile and per Origin (app.fastpath): every answer, from a kept
    list or a new one, is what tile_answer and cors_headers build, raw and as text."""
    import asyncio

    from app import fastpath
    from app.services import Services

    monkeypatch.setattr(fastpath, "_TILE_HEADS_KEPT", 3)  # eviction exercised
    monkeypatch.setattr(fastpath, "_ORIGINS_KEPT", 3)
    store = FileTileStore(tmp_path)
    tiles = [tile_at(WORLD.id, 6, offset) for offset in range(4)]
    memory = TileMemoryCache(2**20)
    for offset, (z, x, y) in enumerate(tiles):
        png = b"\x89PNG " + bytes([offset]) * (offset + 1)
        if offset % 2:
            store.put_if_absent(WORLD.id, z, x, y, png)  # answered from its file
        else:
            memory.put((WORLD.id, z, x, y), png, etag_of(png))

    def services(allowed: list[str]) -> SimpleNamespace:
        settings = SimpleNamespace(api=SimpleNamespace(cors_allow_origins=allowed))
        return SimpleNamespace(
            memory=memory,
            catalog=CATALOG,
            store=store,
            cors_headers=lambda o: Services.cors_headers(settings, o),
        )

    state = State()
    cached = CachedTiles(state, files=True)
    origins = [None, b"http://a.example", b"http://b.example"]
    for allowed in (["*"], ["http://a.example"]):
        state.services = services(allowed)
        for _ in range(2):
            for z, x, y in tiles:
                for method in ("GET", "HEAD"):
                    for origin in origins:
                        png = store.get(WORLD.id, z, x, y) or memory.get((WORLD.id, z, x, y))[0]
                        for inm in (None, etag_of(png), '"other"'):
                            sent = {b"origin": origin, b"if-none-match": inm and inm.encode()}
                            hit = asyncio.run(
                                cached.hit(method, f"/{z}/{x}/{y}.png", b"", sent.get)
                            )
                            source = TileSource.STORE if hit.layer == "store" else TileSource.MEMORY
                            status, headers, body = tile_answer(
                                method, inm, png, etag_of(png), source
                            )
                            headers += fastpath.cors_headers(state.services, origin)
                            assert (hit.status, hit.headers, hit.body) == (status, headers, body)
                            assert hit.text_headers == fastpath.text_headers(headers)
    assert len(cached._tile_heads) == 3 and len(cached._cors_heads) == 3
    z, x, y = tiles[0]
    other = {b"origin": b"http://c.example"}
    hit = asyncio.run(cached.hit("GET", f"/{z}/{x}/{y}.png", b"", other.get))
    assert hit is not None and dict(hit.headers)[b"vary"] == b"Origin"
    assert len(cached._cors_heads) == 3 and b"http://c.example" in cached._cors_heads


@pytest.mark.parametrize("allowed", [["*"], ["http://a.example"]])
@pytest.mark.parametrize("origin", [None, "http://a.example", "http://b.example"])
def test_the_hot_path_sends_the_cors_headers_the_route_sends(
    allowed: list[str], origin: str | None
) -> None:
    """Every hot-path answer (memory, Redis, file) against Starlette's CORSMiddleware, which
    the route's answers pass through (app.main)."""
    from starlette.applications import Starlette
    from starlette.middleware.cors import CORSMiddleware
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from app.fastpath import cors_headers
    from app.middleware import NOSNIFF
    from app.services import EXPOSED_HEADERS, Services

    settings = SimpleNamespace(api=SimpleNamespace(cors_allow_origins=allowed))
    services = SimpleNamespace(cors_headers=lambda o: Services.cors_headers(settings, o))

    def tile(_request) -> Response:
        return Response(b"png", headers={NOSNIFF[0].decode(): NOSNIFF[1].decode()})

    app = CORSMiddleware(
        Starlette(routes=[Route("/t", tile)]),
        allow_origins=allowed,
        allow_methods=["GET", "HEAD"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
    )
    sent = {"origin": origin} if origin else {}
    route = TestClient(app).get("/t", headers=sent).headers
    expected = {
        name: value
        for name, value in route.items()
        if name not in ("content-length", "content-type")
    }
    ours = cors_headers(services, origin.encode() if origin else None)
    assert {name.decode(): value.decode() for name, value in ours} == expected
    assert len(ours) == len(expected)
