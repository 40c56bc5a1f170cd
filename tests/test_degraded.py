"""Degraded modes: Redis dies and comes back; unexpected errors; every error body JSON."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.stack import ROOT, Stack, free_port

pytestmark = pytest.mark.integration


def _redis_server() -> str:
    return shutil.which("redis-server") or str(ROOT / ".venv" / "bin" / "redis-server")


class OwnRedis:
    """A redis-server of this test's own, to kill and restart on the same port."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                _redis_server(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process and server.process.poll() is None:
            server.kill()


def test_redis_down_serves_stored_tiles_and_recovers(own_redis: OwnRedis, tmp_path: Path) -> None:
    stack = Stack(
        tmp_path / "stack",
        f"synthtiles-test-down-{uuid.uuid4().hex[:8]}",
        SYNTHTILES_REDIS_URL=own_redis.url,
        SYNTHTILES_MEMORY_CACHE_MB="0",  # every hit goes to Redis, then to the store
    )
    try:
        api = stack.start_api()
        stack.start_worker("w1")
        made = httpx.get(f"{api}/5/14/15.png", timeout=60)
        assert made.status_code == 200

        own_redis.kill()
        stored = httpx.get(f"{api}/5/14/15.png", timeout=30)
        assert stored.status_code == 200 and stored.content == made.content
        assert stored.headers["x-synthtiles-source"] == "store"
        assert stored.headers["etag"] == made.headers["etag"]
        cold = httpx.get(f"{api}/5/15/15.png", timeout=30)
        assert cold.status_code == 503
        assert cold.headers["retry-after"] and cold.headers["cache-control"] == "no-store"
        assert "unavailable" in cold.json()["error"]
        assert httpx.get(f"{api}/readyz", timeout=30).status_code == 503
        assert httpx.get(f"{api}/healthz", timeout=30).status_code == 200

        own_redis.start()  # same port, empty: the queue was lost, the store was not
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            again = httpx.get(f"{api}/5/15/15.png", timeout=60)
            if again.status_code == 200:
                break
            assert again.status_code == 503, again.text
            time.sleep(1)
        assert again.status_code == 200
    finally:
        stack.stop()


def test_errors_are_json_and_not_cached(stack: Stack) -> None:
    for method, path in (
        ("GET", "/nope"),
        ("GET", "/worlds/atlantis/tilejson.json"),
        ("POST", "/5/14/15.png"),
        ("GET", "/5/10/99999.png"),
    ):
        response = httpx.request(method, f"{stack.base_url}{path}", timeout=30)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["error"]
