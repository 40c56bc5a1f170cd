"""Workers that die or are stopped mid-job lose nothing; slow jobs answer 503 then 200."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack, metric_value
from tests.test_serving import tile_at

pytestmark = pytest.mark.integration

# Every generation batch takes this long, so tests can act while a job is in flight.
SLOW = {
    "SYNTHTILES_PROCEDURAL_DELAY_S": "1.5",
    "SYNTHTILES_CLAIM_IDLE_MS": "1500",
    "SYNTHTILES_LEASE_TTL_MS": "2000",
    "SYNTHTILES_HEARTBEAT_S": "0.3",
}


@pytest.fixture
def slow_stack(tmp_path: Path) -> Iterator[Stack]:
    deployment = Stack(tmp_path, f"synthtiles-test-{uuid.uuid4().hex[:8]}", **SLOW)
    try:
        deployment.base_url = deployment.start_api()
        yield deployment
    finally:
        deployment.stop()


def _fetch_in_background(url: str) -> tuple[threading.Thread, dict[str, httpx.Response]]:
    result: dict[str, httpx.Response] = {}

    def fetch() -> None:
        result["response"] = httpx.get(url, timeout=90)

    thread = threading.Thread(target=fetch)
    thread.start()
    return thread, result


def _wait_for(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_killed_worker_job_is_reclaimed_and_the_request_still_succeeds(slow_stack: Stack) -> None:
    z, x, y = tile_at("testland", 2, 1)  # min zoom: a single unit, no dependencies
    unit = f"testland/{z}/{x}/{y}"
    doomed = slow_stack.start_worker("doomed")
    thread, result = _fetch_in_background(f"{slow_stack.base_url}/{z}/{x}/{y}.png")

    # Wait until the worker holds the unit's lease, i.e. it is generating right now.
    _wait_for(lambda: slow_stack.redis.exists(f"{slow_stack.prefix}:lease:{unit}"))
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    slow_stack.start_worker("rescuer")

    thread.join(timeout=90)
    response = result["response"]
    assert response.status_code == 200
    assert (slow_stack.store_root / "testland" / str(z) / str(x) / f"{y}.png").read_bytes() == (
        response.content
    )
    assert slow_stack.generations("testland")[f"{z}/{x}/{y}"] == 1
    metrics = httpx.get(f"{slow_stack.base_url}/metrics", timeout=10).text
    assert metric_value(metrics, "synthtiles_jobs_reclaimed_total") >= 1
    # The job is finished: nothing pending, nothing dead-lettered.
    assert slow_stack.redis.xlen(f"{slow_stack.prefix}:jobs:interactive") == 0
    assert not slow_stack.redis.exists(f"{slow_stack.prefix}:jobs:dead")


def test_sigterm_finishes_the_batch_then_exits(slow_stack: Stack) -> None:
    z, x, y = tile_at("testland", 2, 2)
    unit = f"testland/{z}/{x}/{y}"
    worker = slow_stack.start_worker("graceful")
    thread, result = _fetch_in_background(f"{slow_stack.base_url}/{z}/{x}/{y}.png")
    _wait_for(lambda: slow_stack.redis.exists(f"{slow_stack.prefix}:lease:{unit}"))
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    thread.join(timeout=30)
    assert result["response"].status_code == 200
    assert slow_stack.redis.xlen(f"{slow_stack.prefix}:jobs:interactive") == 0
    assert not slow_stack.redis.exists(f"{slow_stack.prefix}:worker:graceful")


def test_slow_generation_answers_503_and_the_job_keeps_running(slow_stack: Stack) -> None:
    impatient = slow_stack.start_api(
        SYNTHTILES_TILE_WAIT_TIMEOUT_S="0.3", SYNTHTILES_RETRY_AFTER_S="2"
    )
    slow_stack.start_worker("w")
    z, x, y = tile_at("testland", 2, 3)
    first = httpx.get(f"{impatient}/{z}/{x}/{y}.png", timeout=30)
    assert first.status_code == 503
    assert first.headers["retry-after"] == "2"
    assert first.headers["cache-control"] == "no-store"
    assert "still being generated" in first.json()["error"]
    _wait_for(lambda: (slow_stack.store_root / "testland" / str(z) / str(x) / f"{y}.png").exists())
    second = httpx.get(f"{impatient}/{z}/{x}/{y}.png", timeout=30)
    assert second.status_code == 200
    assert slow_stack.generations("testland")[f"{z}/{x}/{y}"] == 1
