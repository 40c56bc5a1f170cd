"""Workers that are alive but make no progress: a generation past its timeout gives its jobs
up and exits; a lone worker that stops beating is replaced by `serve`."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.stack import Stack, free_port, metric_value
from tests.test_serving import tile_at
from tests.test_shutdown import serve_process, wait_ready
from tests.test_worker_failures import _fetch_in_background, _wait_for
from worker.runner import EXIT_HUNG

pytestmark = pytest.mark.integration

FAST_RECOVERY = {
    "SYNTHTILES_CLAIM_IDLE_MS": "1500",
    "SYNTHTILES_LEASE_TTL_MS": "2000",
    "SYNTHTILES_HEARTBEAT_S": "0.3",
}


@pytest.fixture
def stack_with_timeout(tmp_path: Path) -> Iterator[Stack]:
    deployment = Stack(
        tmp_path,
        f"synthtiles-test-{uuid.uuid4().hex[:8]}",
        SYNTHTILES_GENERATION_TIMEOUT_S="1.5",
        **FAST_RECOVERY,
    )
    try:
        deployment.base_url = deployment.start_api()
        yield deployment
    finally:
        deployment.stop()


def test_a_generation_past_its_timeout_gives_up_its_jobs_and_exits(
    stack_with_timeout: Stack,
) -> None:
    stack = stack_with_timeout
    z, x, y = tile_at("testland", 2, 3)
    unit = f"testland/{z}/{x}/{y}"
    # This worker's generation takes 60 s: far past the 1.5 s timeout, as a wedged GPU would.
    wedged = stack.start_worker("wedged", SYNTHTILES_PROCEDURAL_DELAY_S="60")
    thread, result = _fetch_in_background(f"{stack.base_url}/worlds/testland/{z}/{x}/{y}.png")
    _wait_for(lambda: stack.redis.exists(f"{stack.prefix}:lease:{unit}"))

    assert wedged.wait(timeout=15) == EXIT_HUNG
    # It released the unit's lease and its liveness key on the way out.
    assert not stack.redis.exists(f"{stack.prefix}:lease:{unit}")
    assert not stack.redis.exists(f"{stack.prefix}:worker:wedged")
    log = (stack.tmp / "worker-wedged.log").read_text()
    assert "SYNTHTILES_GENERATION_TIMEOUT_S" in log

    stack.start_worker("rescuer")
    thread.join(timeout=60)
    assert result["response"].status_code == 200
    assert stack.generations("testland")[f"{z}/{x}/{y}"] == 1  # the wedged one stored nothing
    metrics = httpx.get(f"{stack.base_url}/metrics", timeout=10).text
    assert metric_value(metrics, "synthtiles_jobs_reclaimed_total") >= 1
    assert stack.redis.xlen(f"{stack.prefix}:jobs:interactive") == 0
    assert not stack.redis.exists(f"{stack.prefix}:jobs:dead")


def _workers_of(serve: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in serve.children(recursive=True):
        try:
            if "worker" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_serve_replaces_its_lone_worker_when_it_stops_beating(tmp_path: Path) -> None:
    port = free_port()
    serve = serve_process(tmp_path, f"hung-{uuid.uuid4().hex[:8]}", port, **FAST_RECOVERY)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        parent = psutil.Process(serve.pid)
        _wait_for(lambda: len(_workers_of(parent)) == 1, timeout_s=30)
        (stopped,) = _workers_of(parent)
        time.sleep(2)  # let serve see it beat once: a worker still loading is not hung
        stopped.send_signal(signal.SIGSTOP)  # alive, holding its slot, doing nothing

        z, x, y = tile_at("testland", 3, 0)
        response = httpx.get(f"{base}/worlds/testland/{z}/{x}/{y}.png", timeout=60)
        assert response.status_code == 200
        assert not stopped.is_running() or stopped.status() == psutil.STATUS_ZOMBIE
        (replacement,) = _workers_of(parent)
        assert replacement.pid != stopped.pid
        assert "stopped beating (hung); killing and restarting it" in (
            (tmp_path / "serve.log").read_text()
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
