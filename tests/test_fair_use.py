"""Fair use on real API processes: a bounded queue (503) and a per-client budget (429)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack
from tests.test_serving import CATALOG

pytestmark = pytest.mark.integration
PLACEHOLDER = {"X-Synthtiles-Placeholder": "parent"}  # queue without waiting


def _cold_tiles(count: int, row: int = 30) -> list[tuple[int, int, int]]:
    """Distinct z8 tiles inside testland that nothing else in the suite asks for."""
    z = 8
    min_x, min_y, _, _ = CATALOG.get("testland").tile_range(z)
    return [(z, min_x + 40 + i, min_y + row) for i in range(count)]


def test_a_client_over_its_budget_gets_429_others_and_cached_tiles_do_not(stack: Stack) -> None:
    api = stack.start_api(SYNTHTILES_COLD_RATE_PER_MINUTE="4", SYNTHTILES_API_KEYS="k1,k2")
    cached = httpx.get(f"{api}/4/7/7.png", timeout=120)  # made before the client's budget runs
    assert cached.status_code == 200
    answers = []
    for z, x, y in _cold_tiles(7):
        answers.append(httpx.get(f"{api}/{z}/{x}/{y}.png?key=k1", headers=PLACEHOLDER, timeout=30))
    assert [a.status_code for a in answers[:4]] == [200] * 4  # placeholders, jobs queued
    refused = answers[4:]
    assert {a.status_code for a in refused} == {429}
    body = refused[0].json()
    assert body["reason"] == "rate_limited" and "retry in" in body["error"]
    assert 1 <= int(refused[0].headers["retry-after"]) <= 61
    assert refused[0].headers["cache-control"] == "no-store"
    # The same client still gets cached tiles; another client has its own budget.
    assert httpx.get(f"{api}/4/7/7.png?key=k1", timeout=30).status_code == 200
    z, x, y = _cold_tiles(1, row=33)[0]
    other = httpx.get(f"{api}/{z}/{x}/{y}.png?key=k2", headers=PLACEHOLDER, timeout=30)
    assert other.status_code == 200


def test_a_full_queue_refuses_new_work_at_once(tmp_path: Path) -> None:
    # No worker: jobs stay queued, so the queue fills.
    idle = Stack(tmp_path, f"synthtiles-test-full-{uuid.uuid4().hex[:8]}")
    try:
        api = idle.start_api(SYNTHTILES_MAX_QUEUED_JOBS="3")
        tiles = _cold_tiles(5, row=36)
        statuses = [
            httpx.get(f"{api}/{z}/{x}/{y}.png", headers=PLACEHOLDER, timeout=30).status_code
            for z, x, y in tiles
        ]
        assert statuses == [200, 200, 200, 503, 503]
        full = httpx.get(f"{api}/{tiles[4][0]}/{tiles[4][1]}/{tiles[4][2]}.png", timeout=30)
        assert full.status_code == 503 and full.json()["reason"] == "queue_full"
        assert full.headers["retry-after"]
        assert idle.redis.xlen(f"{idle.prefix}:jobs:interactive") == 3  # bounded
        # A tile whose job is already queued is not refused: its waiters only wait.
        z, x, y = tiles[0]
        again = httpx.get(f"{api}/{z}/{x}/{y}.png", headers=PLACEHOLDER, timeout=30)
        assert again.status_code == 200
    finally:
        idle.stop()
