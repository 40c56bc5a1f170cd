"""`synthtiles serve` leaves nothing behind, however it is stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from tests.stack import ROOT, WORLDS_FILE, free_port

pytestmark = pytest.mark.integration


def _alive(processes: set[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def _started_by(serve: subprocess.Popen, mark: str) -> set[psutil.Process]:
    """What serve started so far: its descendants (Redis rewrites its environment, so it is
    found by parentage), and anything carrying the test's mark in its environment."""
    found = set(_marked(mark))
    with contextlib.suppress(psutil.NoSuchProcess):
        found |= set(psutil.Process(serve.pid).children(recursive=True))
    return found


def _marked(mark: str) -> list[psutil.Process]:
    """Live processes started by this serve (they inherit its environment)."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if (
                process.environ().get("SYNTHTILES_TEST_MARK") == mark
                and process.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def serve_process(tmp: Path, mark: str, port: int, *args: str, **settings: str) -> subprocess.Popen:
    """`synthtiles serve` on its embedded defaults (private Redis, one worker) + arguments
    and settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHTILES_")}
    env.update(
        SYNTHTILES_STORE_ROOT=str(tmp / "store"),
        SYNTHTILES_WORLDS_FILE=str(WORLDS_FILE),
        SYNTHTILES_TEST_MARK=mark,
        TMPDIR=str(tmp / "tmp"),  # where serve's private Redis and metrics dirs go
        PYTHONPATH=str(ROOT),
        **settings,
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    (tmp / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("wb"),
    )


def wait_ready(base: str, probe: str = "/readyz") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}{probe}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("serve did not become ready")


@pytest.mark.parametrize("how", ["early-sigterm", "double-sigterm", "sigint", "sighup", "sigkill"])
def test_serve_leaves_no_process_or_temp_dir(tmp_path: Path, how: str) -> None:
    mark = uuid.uuid4().hex
    port = free_port()
    serve = serve_process(tmp_path, mark, port)
    started: set[psutil.Process] = set()
    try:
        if how == "early-sigterm":
            deadline = time.monotonic() + 0.6  # Redis and the worker are being started
            while time.monotonic() < deadline:
                started |= _started_by(serve, mark)
                time.sleep(0.02)
            serve.send_signal(signal.SIGTERM)
            started |= _started_by(serve, mark)
        else:
            wait_ready(f"http://127.0.0.1:{port}")
            started = _started_by(serve, mark)
            names = " ".join(" ".join(p.cmdline()) for p in started)
            assert "redis-server" in names and "worker" in names, names
            if how == "double-sigterm":
                serve.send_signal(signal.SIGTERM)
                time.sleep(0.3)
                serve.send_signal(signal.SIGTERM)
            else:
                serve.send_signal(
                    {"sigint": signal.SIGINT, "sighup": signal.SIGHUP, "sigkill": signal.SIGKILL}[
                        how
                    ]
                )
        serve.wait(timeout=60)
        deadline = time.monotonic() + 20
        while (_alive(started) or _marked(mark)) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [(p.pid, p.name()) for p in _alive(started) + _marked(mark)]
        assert left == [], left
        if how != "sigkill":  # a killed serve cannot clean its temp dirs (its children did die)
            assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        if serve.poll() is None:
            serve.kill()
        for process in _alive(started) + _marked(mark):
            process.kill()


def test_serve_restarts_its_private_redis_and_removes_stale_temp_dirs(tmp_path: Path) -> None:
    # Folders a serve killed outright left behind: owned by a process that is gone.
    (tmp_path / "tmp").mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [tmp_path / "tmp" / f"synthtiles-{kind}-stale" for kind in ("redis", "metrics")]
    for folder in stale:
        folder.mkdir()
        (folder / "owner.pid").write_text(str(dead.pid))
    unrelated = tmp_path / "tmp" / "synthtiles-redis-unmarked"
    unrelated.mkdir()

    port = free_port()
    serve = serve_process(tmp_path, f"redis-{uuid.uuid4().hex[:8]}", port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        assert not any(folder.exists() for folder in stale)
        assert unrelated.exists()  # not marked as ours: left alone

        (server,) = [p for p in psutil.Process(serve.pid).children() if "redis-server" in p.name()]
        server.kill()
        server.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        # A tile that needs the queue again: the restarted Redis and the worker serve it.
        response = httpx.get(f"{base}/worlds/testland/3/3/3.png", timeout=60)
        assert response.status_code == 200
        (restarted,) = [
            p for p in psutil.Process(serve.pid).children() if "redis-server" in p.name()
        ]
        assert restarted.pid != server.pid
        assert "restarting it" in (tmp_path / "serve.log").read_text()
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)


def test_serve_with_two_api_processes_starts_each_once(tmp_path: Path) -> None:
    # uvicorn's supervisor kills an API process that is slow to answer its health ping
    # (spawned, importing the app, warming a plan): none may be killed and restarted.
    mark = uuid.uuid4().hex
    port = free_port()
    serve = serve_process(tmp_path, mark, port, "--workers", "2", "--embedded-workers", "0")
    try:
        wait_ready(f"http://127.0.0.1:{port}", "/healthz")  # no worker: never "ready"
        deadline = time.monotonic() + 60
        log = ""
        while time.monotonic() < deadline:
            log = (tmp_path / "serve.log").read_text()
            if log.count("Application startup complete") >= 2:
                break
            time.sleep(0.5)
        assert log.count("Application startup complete") == 2, log
        time.sleep(3)  # a few health pings later
        log = (tmp_path / "serve.log").read_text()
        assert "died" not in log, log
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
