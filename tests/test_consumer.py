"""The workers' side of the queue protocol (core.consumer) and the heartbeat / watchdog
(core.heartbeat) on a real Redis, without a worker process around them."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import redis

from core.consumer import Leases, StreamConsumer, UnitJobs
from core.heartbeat import Heartbeat, Watchdog
from core.protocol import CONSUMER_GROUP, Keys, Priority, QueueProtocol
from core.settings import QueueSettings
from core.units import UnitKey
from tests import test_protocol
from tests.stack import redis_url

pytestmark = pytest.mark.integration

keys = test_protocol.keys  # the fixture: a fresh key prefix, cleaned up after the test

UNIT = UnitKey("testland", 9, 3, 4)


def test_read_in_priority_order_reclaim_counts_lost_deliveries_and_ack_deletes(
    keys: Keys,
) -> None:
    client = redis.from_url(redis_url())
    streams = [keys.stream(p) for p in (Priority.INTERACTIVE, Priority.SEEDING)]
    first = StreamConsumer(client, "g", "first", streams, claim_idle_ms=100)
    first.ensure_groups()
    first.ensure_groups()  # idempotent
    client.xadd(streams[1], {"unit": "seeded"})
    client.xadd(streams[0], {"unit": "asked"})
    batch = first.read_batch(5, linger_s=0.0)
    assert [e.fields["unit"] for e in batch] == ["asked", "seeded"]  # interactive first
    assert first.read_batch(5, linger_s=0.0) == []  # nothing new: waited ~1 s

    # "first" died holding both: another consumer re-claims them once idle.
    time.sleep(0.15)
    second = StreamConsumer(client, "g", "second", streams, claim_idle_ms=100)
    taken = second.reclaim(10)
    assert sorted(e.fields["unit"] for e in taken) == ["asked", "seeded"]
    assert all(e.lost == 1 for e in taken)

    # Entries in hand are kept fresh: a third consumer finds nothing idle to take.
    with second.holding(taken):
        assert second.held_count() == 2
        time.sleep(0.15)
        second.keep_alive()
        assert StreamConsumer(client, "g", "third", streams, claim_idle_ms=100).reclaim(10) == []
    assert second.held_count() == 0
    for entry in taken:
        second.finish(entry)
    assert [client.xlen(s) for s in streams] == [0, 0]  # acked and deleted


def test_a_vanished_group_is_recreated_and_reclaim_is_throttled(keys: Keys) -> None:
    client = redis.from_url(redis_url())
    stream = keys.export_stream
    consumer = StreamConsumer(client, "exporters", "c", [stream], 100, reclaim_every_s=60)
    consumer.ensure_groups()
    assert consumer.reclaim(1) == []
    client.delete(stream)  # as FLUSHALL would
    assert consumer.read_batch(1, 0.0) == []
    assert client.xinfo_groups(stream)[0]["name"] == b"exporters"
    client.xadd(stream, {"job": "j"})
    assert len(consumer.read_batch(1, 0.0)) == 1
    time.sleep(0.15)
    assert consumer.reclaim(1) == []  # the last re-claim was less than 60 s ago


def test_leases_are_renewed_and_released_only_by_their_holder(keys: Keys) -> None:
    client = redis.from_url(redis_url())
    mine = Leases(client, keys, "me", ttl_ms=500)
    theirs = Leases(client, keys, "them", ttl_ms=500)
    assert mine.acquire(UNIT)
    assert not theirs.acquire(UNIT) and theirs.taken(UNIT)
    theirs.release(UNIT)  # not theirs to release
    assert client.get(keys.lease(UNIT)) == b"me"
    client.pexpire(keys.lease(UNIT), 100)
    mine.renew_all()
    assert client.pttl(keys.lease(UNIT)) > 200
    mine.release_all()
    assert not mine.taken(UNIT)
    assert theirs.acquire(UNIT)
    mine.renew_all()  # a lease that went to another holder is not extended
    theirs.release(UNIT)
    assert not theirs.taken(UNIT) and theirs.held() == []


def test_a_failed_job_is_retried_with_backoff_then_dead_lettered(keys: Keys) -> None:
    client = redis.from_url(redis_url())
    queue = QueueProtocol(client, keys, job_ttl_s=60)
    settings = QueueSettings(max_attempts=2, retry_backoff_s=0.0)
    jobs = UnitJobs(client, keys, "w", settings)
    jobs.consumer.ensure_groups()
    assert queue.submit(UNIT) == 1
    (job,) = jobs.read_batch(1, 0.0)
    assert job.attempt == 0 and job.unit == UNIT
    assert jobs.fail(job, "RuntimeError: boom") == 1
    assert client.zrange(keys.retry, 0, -1) == [f"1|{job.stream}|{UNIT}".encode()]
    assert client.xlen(job.stream) == 0
    assert queue.release_due_retries(time.time() + 1) == 1
    (again,) = jobs.read_batch(1, 0.0)
    assert again.attempt == 1
    assert jobs.fail(again, "RuntimeError: boom") == 2
    (dead,) = client.xrange(keys.dead_letter)
    assert dead[1][b"unit"] == str(UNIT).encode() and dead[1][b"attempts"] == b"2"
    assert dead[1][b"worker"] == b"w" and dead[1][b"error"] == b"RuntimeError: boom"
    assert client.xlen(job.stream) == 0 and not client.exists(keys.job(UNIT))
    assert client.xpending(job.stream, CONSUMER_GROUP)["pending"] == 0


def test_the_heartbeat_beats_survives_redis_errors_and_hands_a_hung_step_over() -> None:
    beats: list[float] = []
    hung = threading.Event()
    watchdog = Watchdog(timeout_s=0.2)

    def beat() -> None:
        beats.append(time.monotonic())
        if len(beats) == 1:
            raise redis.ConnectionError("Redis restarting")

    heartbeat = Heartbeat(
        0.02, beat, logging.getLogger("synthtiles.test"), watchdog=watchdog, on_hung=hung.set
    ).start()
    try:
        time.sleep(0.15)
        assert len(beats) >= 3  # the first beat's error did not stop it
        with watchdog.watching():
            assert hung.wait(timeout=2)
            assert watchdog.overdue()
        assert not watchdog.overdue()
        count = len(beats)
        time.sleep(0.1)
        assert len(beats) == count  # it stopped after handing over
    finally:
        heartbeat.stop()
