"""The request path end to end: real API process, real worker process, real Redis, real files."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from core.classes import CLASS_COLOURS
from core.protocol import etag_of
from core.world import WorldCatalog
from tests.stack import WORLDS_FILE, Stack, metric_value

pytestmark = pytest.mark.integration

CATALOG = WorldCatalog.load(WORLDS_FILE)


def tile_at(world_id: str, z: int, offset: int) -> tuple[int, int, int]:
    """A tile inside the world's extent, distinct per offset (so tests don't share tiles)."""
    min_x, min_y, max_x, _max_y = CATALOG.get(world_id).tile_range(z)
    width = max_x - min_x + 1
    return z, min_x + offset % width, min_y + offset // width


def test_miss_generates_then_hits_the_cache(stack: Stack) -> None:
    z, x, y = tile_at("testland", 5, 0)
    first = httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=60)
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/png"
    assert first.headers["x-synthtiles-source"] == "generated"
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert first.headers["etag"] == etag_of(first.content)
    image = Image.open(io.BytesIO(first.content))
    assert image.size == (256, 256) and image.mode == "RGB"
    assert image.info["synthtiles:world"] == "testland"
    assert image.info["synthtiles:model"] == "procedural@0.1.0"
    assert "not a real place" in image.info["Description"]

    # The durable store and the Redis cache hold exactly the served bytes.
    stored = (stack.store_root / "testland" / str(z) / str(x) / f"{y}.png").read_bytes()
    assert stored == first.content
    cached = stack.redis.hgetall(f"{stack.prefix}:tile:testland:procedural@0.1.0:{z}:{x}:{y}")
    assert cached[b"png"] == first.content
    assert cached[b"etag"].decode() == first.headers["etag"]

    second = httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=10)
    assert second.headers["x-synthtiles-source"] == "memory"
    assert second.content == first.content
    assert stack.generations("testland")[f"{z}/{x}/{y}"] == 1


def test_fifty_concurrent_requests_make_one_generation(stack: Stack) -> None:
    z, x, y = tile_at("testland", 6, 3)
    url = f"{stack.base_url}/worlds/testland/{z}/{x}/{y}.png"
    jobs_before = stack.jobs_added()

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(*(client.get(url) for _ in range(50)))

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.content for r in responses}) == 1
    assert len({r.headers["etag"] for r in responses}) == 1
    assert stack.generations("testland")[f"{z}/{x}/{y}"] == 1
    assert stack.jobs_added() - jobs_before == 1


def test_every_unit_is_generated_once_across_a_neighbourhood(stack: Stack) -> None:
    # Dependencies (parents, lower-phase neighbours) are shared: none is made twice.
    z = 7
    tiles = [tile_at("testland", z, offset) for offset in range(40, 46)]

    async def fetch_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(client.get(f"{stack.base_url}/{tz}/{tx}/{ty}.png") for tz, tx, ty in tiles)
            )

    assert all(r.status_code == 200 for r in asyncio.run(fetch_all()))
    counts = stack.generations("testland")
    assert counts and max(counts.values()) == 1


def test_multi_tile_units_store_all_their_tiles(stack: Stack) -> None:
    z, x, y = tile_at("blocks", 5, 5)
    response = httpx.get(f"{stack.base_url}/worlds/blocks/{z}/{x}/{y}.png", timeout=60)
    assert response.status_code == 200
    ux, uy = x // 2, y // 2
    for tx in (2 * ux, 2 * ux + 1):
        for ty in (2 * uy, 2 * uy + 1):
            assert (stack.store_root / "blocks" / str(z) / str(tx) / f"{ty}.png").is_file()
    assert stack.generations("blocks")[f"{z}/{ux}/{uy}"] == 1


def test_conditional_get_head_and_cors(stack: Stack) -> None:
    z, x, y = tile_at("testland", 5, 1)
    url = f"{stack.base_url}/{z}/{x}/{y}.png"
    full = httpx.get(url, timeout=60)
    etag = full.headers["etag"]

    not_modified = httpx.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    other = httpx.get(url, headers={"If-None-Match": '"someotheretag"'}, timeout=10)
    assert other.status_code == 200

    head = httpx.head(url, timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    assert head.headers["etag"] == etag

    cors = httpx.get(url, headers={"Origin": "https://exercise.example"}, timeout=10)
    assert cors.headers["access-control-allow-origin"] == "*"


def test_tilejson(stack: Stack) -> None:
    default = httpx.get(f"{stack.base_url}/tilejson.json", timeout=10).json()
    assert default["tilejson"] == "3.0.0"
    assert default["tiles"][0] == f"{stack.base_url}/{{z}}/{{x}}/{{y}}.png"
    assert default["minzoom"] == 2 and default["maxzoom"] == 9
    assert default["bounds"] == [-40.0, -30.0, 40.0, 30.0]
    assert "not a real place" in default["attribution"]

    blocks = httpx.get(f"{stack.base_url}/worlds/blocks/tilejson.json", timeout=10).json()
    assert blocks["tiles"] == [f"{stack.base_url}/worlds/blocks/{{z}}/{{x}}/{{y}}.png"]
    assert (blocks["minzoom"], blocks["maxzoom"]) == (3, 8)
    assert blocks["synthtiles"]["unit_size"] == 2

    listing = httpx.get(f"{stack.base_url}/worlds", timeout=10).json()
    assert {w["id"] for w in listing["worlds"]} == {
        "testland",
        "blocks",
        "broken",
        "planland",
        "scenarioland",
        "carana",
        "carana-v2",
        "carana-v3",
        "carana-v4",
        "carana-v5",
        "carana-v6",
        "carana-v7",
        "carana-v8",
        "carana-v9",
        "carana-v10",
        "carana-v11",
        "terra",
    }


# Every one of these must be rejected before it reaches Redis.
BAD_REQUESTS = [
    ("/abc/1/1.png", 400, "z must be"),
    ("/4/abc/1.png", 400, "x must be"),
    ("/4/1/abc.png", 400, "y must be"),
    ("/-1/1/1.png", 400, "z must be"),
    ("/4/-1/1.png", 400, "x must be"),
    ("/4/1/-3.png", 400, "y must be"),
    ("/4.5/1/1.png", 400, "z must be"),
    ("/4/1.5/1.png", 400, "x must be"),
    ("/+4/1/1.png", 400, "z must be"),
    ("/04/1/1.png", 400, "z must be"),
    ("/4/1/99999999999999999999.png", 400, "y must be"),
    ("/99999999999/1/1.png", 400, "z must be"),
    ("/4/16/1.png", 400, "off the grid"),
    ("/4/1/16.png", 400, "off the grid"),
    ("/4/1/1.jpg", 400, "unsupported tile format"),
    ("/4/1/1.webp", 400, "unsupported tile format"),
    ("/4/1/1", 400, "no extension"),
    ("/1/0/0.png", 404, "outside world 'testland''s zoom range 2-9"),
    ("/12/0/0.png", 404, "zoom range"),
    ("/5/0/0.png", 404, "outside world 'testland''s extent"),
    ("/worlds/atlantis/4/8/8.png", 404, "unknown world 'atlantis'"),
    ("/worlds/atlantis/tilejson.json", 404, "unknown world"),
    ("/worlds/blocks/2/1/1.png", 404, "zoom range 3-8"),
    ("/4/8/8/1.png", 404, "no such resource"),
    ("/worlds/testland/4/8/8/extra.png", 404, "no such resource"),
    ("/4/8.png", 404, "no such resource"),
]


@pytest.mark.parametrize(("path", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx_and_no_job(
    stack: Stack, path: str, status: int, message: str
) -> None:
    jobs_before = stack.jobs_added()
    response = httpx.get(stack.base_url + path, timeout=10)
    assert response.status_code == status, response.text
    body = response.json()
    assert message in body["error"]
    assert response.headers["cache-control"] == "no-store"
    assert stack.jobs_added() == jobs_before


def test_layout_debug_layer(stack: Stack) -> None:
    z, x, y = tile_at("testland", 6, 4)
    response = httpx.get(f"{stack.base_url}/worlds/testland/layout/{z}/{x}/{y}.png", timeout=30)
    assert response.status_code == 200
    pixels = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    palette = {tuple(c) for c in CLASS_COLOURS.values()}
    assert {tuple(p) for p in pixels.reshape(-1, 3)} <= palette
    bad = httpx.get(f"{stack.base_url}/worlds/testland/layout/1/0/0.png", timeout=10)
    assert bad.status_code == 404


def test_wrong_method_is_405(stack: Stack) -> None:
    response = httpx.post(f"{stack.base_url}/4/8/8.png", timeout=10)
    assert response.status_code == 405
    assert "not allowed" in response.json()["error"]


def test_failing_job_is_retried_with_backoff_then_dead_lettered_and_answered_500(
    stack: Stack,
) -> None:
    started = time.monotonic()
    response = httpx.get(f"{stack.base_url}/worlds/broken/3/2/2.png", timeout=60)
    # Three attempts, 2 s then 4 s apart (SYNTHTILES_RETRY_BACKOFF_S doubling).
    assert time.monotonic() - started >= 5.5
    assert response.status_code == 500
    assert "missing@1.0" in response.json()["error"]
    dead = stack.redis.xrange(f"{stack.prefix}:jobs:dead")
    assert any(fields[b"unit"] == b"broken/3/2/2" for _, fields in dead)
    attempts = [int(f[b"attempts"]) for _, f in dead if f[b"unit"] == b"broken/3/2/2"]
    assert attempts == [3]
    # Nothing was half-written, and the worker is still alive and serving.
    assert not (stack.store_root / "broken").exists()
    z, x, y = tile_at("testland", 4, 2)
    assert httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=60).status_code == 200
    metrics = httpx.get(f"{stack.base_url}/metrics", timeout=10).text
    assert metric_value(metrics, "synthtiles_jobs_dead_lettered_total") >= 1
    assert metric_value(metrics, "synthtiles_jobs_retried_total") >= 2
    assert stack.redis.zcard(f"{stack.prefix}:jobs:retry") == 0
    assert metric_value(metrics, "synthtiles_generation_failures_total") >= 1


def test_readyz_and_metrics(stack: Stack) -> None:
    ready = httpx.get(f"{stack.base_url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["model_loaded"] is True
    z, x, y = tile_at("testland", 5, 7)
    httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=60)
    httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=60)
    text = httpx.get(f"{stack.base_url}/metrics", timeout=10).text
    assert (
        metric_value(
            text, "synthtiles_http_requests_total", route="/{z}/{x}/{y_file}", status="200"
        )
        >= 2
    )
    assert metric_value(text, "synthtiles_tile_cache_total", layer="memory", result="hit") >= 1
    assert metric_value(text, "synthtiles_tile_cache_total", layer="redis", result="miss") >= 1
    assert metric_value(text, "synthtiles_tile_cache_total", layer="store", result="miss") >= 1
    assert metric_value(text, "synthtiles_generation_seconds_count") >= 1
    assert metric_value(text, "synthtiles_batch_size_count") >= 1
    assert 'synthtiles_queue_depth{priority="interactive"}' in text
    assert 'synthtiles_queue_depth{priority="seeding"}' in text


def test_memory_hits_still_reject_non_canonical_paths(stack: Stack) -> None:
    z, x, y = tile_at("testland", 5, 9)
    assert httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=60).status_code == 200
    hot = httpx.get(f"{stack.base_url}/{z}/{x}/{y}.png", timeout=10)
    # A tile an earlier test generated as a dependency is sent from its file (granian),
    # which does not fill the memory cache; either way the hot path answered.
    assert hot.headers["x-synthtiles-source"] in ("memory", "store")
    for path in (f"/0{z}/{x}/{y}.png", f"/{z}/0{x}/{y}.png", f"/{z}/{x}/{y}.jpg"):
        assert httpx.get(stack.base_url + path, timeout=10).status_code == 400


def test_flushed_redis_serves_the_same_tiles_from_the_store(stack: Stack) -> None:
    # Without the per-process memory cache, so the layers under test are Redis and the store
    # (under uvicorn: granian sends stored tiles from their files before Redis is asked,
    # tests/test_store_hits.py).
    api = stack.start_api(SYNTHTILES_MEMORY_CACHE_MB="0", SYNTHTILES_SERVER="uvicorn")
    tiles = [tile_at("testland", 6, offset) for offset in range(20, 24)]
    before = {t: httpx.get(f"{api}/{t[0]}/{t[1]}/{t[2]}.png", timeout=60) for t in tiles}
    assert all(r.status_code == 200 for r in before.values())
    z, x, y = tiles[0]
    assert httpx.get(f"{api}/{z}/{x}/{y}.png", timeout=10).headers["x-synthtiles-source"] == "cache"
    stack.redis.flushall()
    for (z, x, y), first in before.items():
        again = httpx.get(f"{api}/{z}/{x}/{y}.png", timeout=60)
        assert again.status_code == 200
        assert again.headers["x-synthtiles-source"] == "store"
        assert again.headers["etag"] == first.headers["etag"]
        assert again.content == first.content
    # The queue comes back by itself too: a cold tile still gets generated.
    z, x, y = tile_at("testland", 6, 30)
    assert httpx.get(f"{api}/{z}/{x}/{y}.png", timeout=60).status_code == 200


def test_cached_bytes_that_do_not_match_their_etag_are_not_served(stack: Stack) -> None:
    # Every hit goes to Redis (uvicorn: granian would send the stored file first).
    api = stack.start_api(SYNTHTILES_MEMORY_CACHE_MB="0", SYNTHTILES_SERVER="uvicorn")
    z, x, y = tile_at("testland", 5, 7)
    url = f"{api}/worlds/testland/{z}/{x}/{y}.png"
    first = httpx.get(url, timeout=60)
    assert first.status_code == 200
    key = f"{stack.prefix}:tile:testland:procedural@0.1.0:{z}:{x}:{y}"
    assert stack.redis.hget(key, "png") == first.content
    stack.redis.hset(key, "png", b"\x89PNG not the published bytes")  # damaged, or forged

    again = httpx.get(url, timeout=60)
    assert again.status_code == 200
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert again.headers["x-synthtiles-source"] == "store"
    assert stack.redis.hget(key, "png") == first.content  # refilled from the store
    metrics = httpx.get(f"{api}/metrics", timeout=10).text
    assert metric_value(metrics, "synthtiles_cache_integrity_failures_total") >= 1
