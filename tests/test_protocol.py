"""The queue protocol (core.protocol.QueueProtocol) on a real Redis, through the sync client
(workers, seeding, CLI exports) and the asyncio one (the API): one implementation for both."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from core.protocol import WANT_TTL_S, Keys, Priority, QueueProtocol, parse_stats
from core.units import UnitKey
from tests.stack import redis_url

pytestmark = pytest.mark.integration

UNIT = UnitKey("testland", 9, 3, 4)
OTHER = UnitKey("testland", 9, 5, 4)


@pytest.fixture
def keys() -> Iterator[Keys]:
    keys = Keys(f"test-protocol-{uuid.uuid4().hex[:8]}")
    yield keys
    client = redis.from_url(redis_url())
    for key in client.scan_iter(match=f"{keys.prefix}:*"):
        client.delete(key)


def _units(client: redis.Redis, keys: Keys, priority: Priority) -> list[str]:
    return [f[b"unit"].decode() for _, f in client.xrange(keys.stream(priority))]


def test_one_job_per_unit_and_interactive_overtakes_seeding(keys: Keys) -> None:
    client = redis.from_url(redis_url())
    queue = QueueProtocol(client, keys, job_ttl_s=600)
    queue.ensure_groups()
    queue.ensure_groups()  # idempotent
    assert queue.submit(UNIT, Priority.SEEDING) == 1
    assert queue.submit(UNIT, Priority.SEEDING) == 0
    # An interactive request for a unit queued only for seeding queues it again, once.
    assert queue.submit(UNIT, Priority.INTERACTIVE) == 1
    assert queue.submit(UNIT, Priority.INTERACTIVE) == 0
    assert queue.submit(UNIT, Priority.SEEDING) == 0
    assert _units(client, keys, Priority.SEEDING) == [str(UNIT)]
    assert _units(client, keys, Priority.INTERACTIVE) == [str(UNIT)]
    assert client.get(keys.job(UNIT)) == b"interactive"
    assert 0 < client.ttl(keys.wanted(UNIT)) <= WANT_TTL_S  # submitting marks it wanted
    assert 590 <= client.ttl(keys.job(UNIT)) <= 600  # the upgrade kept the marker's TTL


def test_the_asyncio_client_shares_the_same_protocol(keys: Keys) -> None:
    async def scenario() -> tuple[list[int], tuple[dict[str, int], dict[str, int]]]:
        client = aioredis.from_url(redis_url())
        try:
            queue = QueueProtocol(client, keys, job_ttl_s=60)
            await queue.ensure_groups()
            results = [
                await queue.submit(UNIT),
                await queue.submit(UNIT),
                await queue.submit(OTHER, Priority.SEEDING),
            ]
            return results, parse_stats(await queue.stats())
        finally:
            await client.aclose()

    results, (waiting, in_progress) = asyncio.run(scenario())
    assert results == [1, 0, 1]
    assert waiting == {"interactive": 1, "seeding": 1}
    assert in_progress == {"interactive": 0, "seeding": 0}
    # A worker taking the interactive job moves it from waiting to in progress.
    client = redis.from_url(redis_url())
    client.xreadgroup("workers", "w1", {keys.stream(Priority.INTERACTIVE): ">"}, count=1)
    sync_queue = QueueProtocol(client, keys, job_ttl_s=60)
    waiting, in_progress = parse_stats(sync_queue.stats())
    assert waiting == {"interactive": 0, "seeding": 1}
    assert in_progress == {"interactive": 1, "seeding": 0}


def test_stats_before_any_group_exists(keys: Keys) -> None:
    client = redis.from_url(redis_url())
    client.xadd(keys.stream(Priority.SEEDING), {"unit": str(UNIT), "attempt": "0"})
    waiting, in_progress = parse_stats(QueueProtocol(client, keys, 60).stats())
    assert waiting["seeding"] == 1 and in_progress["seeding"] == 0


def test_a_job_is_dropped_only_when_unwanted_and_the_queue_is_deep(keys: Keys) -> None:
    client = redis.from_url(redis_url())
    queue = QueueProtocol(client, keys, job_ttl_s=600)
    queue.ensure_groups()
    stream = keys.stream(Priority.INTERACTIVE)
    queue.submit(UNIT)
    queue.submit(OTHER)
    client.delete(keys.wanted(OTHER))  # its submitter left and the mark lapsed
    ((_, entries),) = client.xreadgroup("workers", "w1", {stream: ">"}, count=2)
    (wanted_id, _), (unwanted_id, _) = entries

    assert queue.drop_unwanted(stream, wanted_id.decode(), UNIT, 0) == 0  # someone waits
    assert queue.drop_unwanted(stream, unwanted_id.decode(), OTHER, 2) == 0  # queue not deep
    assert client.xlen(stream) == 2
    assert queue.drop_unwanted(stream, unwanted_id.decode(), OTHER, 1) == 1
    assert client.xlen(stream) == 1
    assert not client.exists(keys.job(OTHER))  # so asking again queues it again
    assert client.xpending(stream, "workers")["pending"] == 1
    assert queue.submit(OTHER) == 1


def test_wanted_marks_are_extended_never_shortened(keys: Keys) -> None:
    client = redis.from_url(redis_url())
    queue = QueueProtocol(client, keys, job_ttl_s=600)
    queue.want([UNIT], 30)
    queue.want([UNIT], 5)
    queue.submit(UNIT, wanted_for_s=5)
    assert client.ttl(keys.wanted(UNIT)) > 20
    queue.want([OTHER], 5)
    queue.want([OTHER], 30)
    assert client.ttl(keys.wanted(OTHER)) > 20


def test_a_full_queue_sweeps_out_undelivered_jobs_nobody_wants(keys: Keys) -> None:
    client = redis.from_url(redis_url())
    queue = QueueProtocol(client, keys, job_ttl_s=600)
    queue.ensure_groups()
    stream = keys.stream(Priority.INTERACTIVE)
    taken, wanted, abandoned = (UnitKey("testland", 9, i, 7) for i in (1, 2, 3))
    for unit in (taken, wanted, abandoned):
        queue.submit(unit)
    queue.submit(UNIT, Priority.SEEDING)  # seeding jobs are never swept
    client.delete(keys.wanted(taken), keys.wanted(abandoned), keys.wanted(UNIT))  # lapsed
    client.xreadgroup("workers", "w1", {stream: ">"}, count=1)  # a worker has `taken`
    queue.want([wanted])

    assert queue.sweep_unwanted() == 1
    assert _units(client, keys, Priority.INTERACTIVE) == [str(taken), str(wanted)]
    assert not client.exists(keys.job(abandoned))
    assert _units(client, keys, Priority.SEEDING) == [str(UNIT)]
    assert queue.sweep_unwanted() == 0
