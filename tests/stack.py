"""Starts real synthtiles processes (API server, workers) against a real Redis for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
WORLDS_FILE = Path(__file__).resolve().parent / "data" / "worlds.toml"


def redis_url() -> str:
    return os.environ.get("SYNTHTILES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """One deployment: a key prefix, a store directory, API servers and worker processes."""

    def __init__(self, tmp: Path, prefix: str, **env: str) -> None:
        self.tmp = tmp
        self.prefix = prefix
        self.store_root = tmp / "store"
        self.metrics_dir = tmp / "metrics"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "SYNTHTILES_REDIS_URL": redis_url(),
            "SYNTHTILES_REDIS_PREFIX": prefix,
            "SYNTHTILES_STORE_ROOT": str(self.store_root),
            "SYNTHTILES_EXPORT_DIR": str(tmp / "exports"),
            "SYNTHTILES_WORLDS_FILE": str(WORLDS_FILE),
            "SYNTHTILES_RECORD_GENERATIONS": "true",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.base_url = ""
        self.redis = redis.from_url(self.env["SYNTHTILES_REDIS_URL"])

    def _spawn(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def start_api(self, **env: str) -> str:
        port = free_port()
        self._spawn(
            ["serve", "--port", str(port), "--embedded-workers", "0"],
            {**self.env, **env},
            f"api-{port}",
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"API on port {port} did not start; see {self.tmp}")

    def start_worker(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        process = self._spawn(["worker", "--id", name], {**self.env, **env}, f"worker-{name}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.redis.exists(f"{self.prefix}:worker:{name}"):
                return process
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"worker {name} did not become ready; see {self.tmp}")

    def generations(self, world: str) -> dict[str, int]:
        raw = self.redis.hgetall(f"{self.prefix}:generations:{world}")
        return {k.decode(): int(v) for k, v in raw.items()}

    def jobs_added(self) -> int:
        """XADDs ever made to the job streams (survives XDEL of finished entries)."""
        total = 0
        for priority in ("interactive", "seeding"):
            stream = f"{self.prefix}:jobs:{priority}"
            if self.redis.exists(stream):
                total += int(self.redis.xinfo_stream(stream)["entries-added"])
        return total

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            self.redis.delete(key)
        self.redis.close()


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples in Prometheus text whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


@contextlib.contextmanager
def running_stack(tmp: Path, workers: int = 1, **env: str) -> Iterator[Stack]:
    """A fresh deployment (own key prefix and store) with an API and ``workers`` workers."""
    stack = Stack(tmp, f"synthtiles-test-{uuid.uuid4().hex[:8]}", **env)
    try:
        stack.base_url = stack.start_api()
        for index in range(workers):
            stack.start_worker(f"w{index + 1}")
        yield stack
    finally:
        stack.stop()
