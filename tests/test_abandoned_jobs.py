"""A flood of requests whose clients left does not keep a later client waiting behind it:
the API stops waiting for a client that hung up, and workers drop jobs nobody waits for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.stack import Stack, metric_value, running_stack
from tests.test_serving import tile_at

pytestmark = pytest.mark.integration


@pytest.fixture
def flooded(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(
        tmp_path,
        SYNTHTILES_PROCEDURAL_DELAY_S="1.0",  # every unit takes a second
        SYNTHTILES_BATCH_SIZE="1",
        SYNTHTILES_DROP_UNWANTED_ABOVE="0",
    ) as stack:
        yield stack


def _flood(stack: Stack, tiles: list[tuple[int, int, int]]) -> None:
    """Ask for every tile and hang up at once, as a scraper with a short timeout does."""
    for z, x, y in tiles:
        with pytest.raises(httpx.TimeoutException):
            httpx.get(f"{stack.base_url}/worlds/testland/{z}/{x}/{y}.png", timeout=0.2)


def test_jobs_of_clients_that_left_are_dropped_and_the_next_client_is_served(
    flooded: Stack,
) -> None:
    flood = [tile_at("testland", 4, offset) for offset in range(16)]
    _flood(flooded, flood)
    queued = flooded.redis.xlen(f"{flooded.prefix}:jobs:interactive")
    assert queued >= 10  # one second per unit: most of the flood is still queued

    z, x, y = tile_at("testland", 5, 20)
    started = time.monotonic()
    response = httpx.get(f"{flooded.base_url}/worlds/testland/{z}/{x}/{y}.png", timeout=90)
    waited = time.monotonic() - started
    assert response.status_code == 200

    metrics = httpx.get(f"{flooded.base_url}/metrics", timeout=10).text
    dropped = metric_value(metrics, "synthtiles_jobs_dropped_total")
    gone = metric_value(metrics, "synthtiles_clients_gone_total")
    assert gone >= 1  # the API noticed the hang-ups and stopped waiting for them
    assert dropped >= 1
    # Made: the second client's tile and its ancestors, plus what the flood got before its
    # marks lapsed; never all 16 flood tiles one after another.
    made = sum(flooded.generations("testland").values())
    assert made < 3 + len(flood), (made, dropped, waited)
    assert flooded.redis.xlen(f"{flooded.prefix}:jobs:interactive") == 0
