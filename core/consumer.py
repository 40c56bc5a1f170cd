"""Consuming a Redis Stream through a consumer group, and holding leases: the workers' side
of the queue protocol (core/protocol.py has the keys and the submitting side).

- ``StreamConsumer``: one consumer of one group over streams read in priority order: new
  entries (a batch, lingering briefly so a burst shares it), entries re-claimed from a
  consumer that stopped answering, ack (which also deletes: XLEN counts unfinished work), and
  the entries in hand kept fresh by the heartbeat so they are not re-claimed meanwhile.
- ``Leases``: "I am making this unit now" keys (SET NX PX holding the consumer's id), renewed
  while held and released only by their holder.
- ``UnitJobs``: the tile workers' unit jobs on top of both: complete, fail (retry with
  backoff, or dead-letter after ``max_attempts``), dead-letter.
- ``run_until_stopped`` / ``stop_on_signals``: the loop both worker processes run.

Used by the tile worker (worker/runner.py) and the export worker (app/export_worker.py).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from core.protocol import (
    CONSUMER_GROUP,
    ENSURE_GROUPS_LUA,
    PRIORITY_ORDER,
    Job,
    Keys,
    done_message,
)
from core.settings import QueueSettings
from core.units import UnitKey

# Delete a key only if it still holds our token (a lease we own).
RELEASE_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
# Extend a key's TTL only if it still holds our token: a lease that lapsed and was taken
# by another worker stays theirs.
RENEW_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)

# How long the blocking read waits for a first entry before the loop goes round again
# (release retries, re-claim, notice a stop).
READ_BLOCK_MS = 1000


def consumer_name() -> str:
    """A consumer id unique across hosts and restarts (a restarted process is a new one)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_vanished(exc: redis.ResponseError) -> bool:
    """The stream or its group is gone (e.g. FLUSHALL): recreate them rather than fail."""
    return str(exc).startswith(("NOGROUP", "UNBLOCKED"))


class Delivered(Protocol):
    """What names a stream entry in hand: an ``Entry`` or a ``Job``."""

    @property
    def stream(self) -> str: ...

    @property
    def entry_id(self) -> str: ...


@dataclass(frozen=True)
class Entry:
    stream: str
    entry_id: str
    fields: dict[str, str]
    # Deliveries before this one that ended without an ack: its consumer died or hung.
    lost: int = 0


class StreamConsumer:
    """Consumer ``name`` of ``group`` over ``streams`` (read in that order: the first is
    served first). Entries idle for ``claim_idle_ms`` are re-claimed, at most every
    ``reclaim_every_s``; entries in hand (``holding``) are kept fresh by ``keep_alive``."""

    def __init__(
        self,
        client: redis.Redis,
        group: str,
        name: str,
        streams: Sequence[str],
        claim_idle_ms: int,
        reclaim_every_s: float = 0.0,
    ) -> None:
        self.redis = client
        self.group = group
        self.name = name
        self.streams = list(streams)
        self.claim_idle_ms = claim_idle_ms
        self.reclaim_every_s = reclaim_every_s
        self._ensure_groups = client.register_script(ENSURE_GROUPS_LUA)
        self._last_reclaim = 0.0
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}  # stream -> entry ids in hand

    def ensure_groups(self) -> None:
        self._ensure_groups(keys=self.streams, args=[self.group])

    # ---------------------------------------------------------------- reading

    def _xreadgroup(self, streams: dict[str, str], count: int, block: int | None) -> list[Entry]:
        try:
            reply = self.redis.xreadgroup(self.group, self.name, streams, count=count, block=block)
        except redis.ResponseError as exc:
            if not _stream_vanished(exc):
                raise
            self.ensure_groups()  # Redis was flushed or restarted: recreate and go on
            return []
        return [
            self._entry(_text(stream), entry_id, fields)
            for stream, entries in reply or []
            for entry_id, fields in entries
        ]

    @staticmethod
    def _entry(stream: str, entry_id: bytes | str, fields: dict, lost: int = 0) -> Entry:
        decoded = {_text(k): _text(v) for k, v in fields.items()}
        return Entry(stream, _text(entry_id), decoded, lost)

    def read_new(self, count: int) -> list[Entry]:
        """Up to ``count`` new entries without blocking, the first stream first."""
        entries: list[Entry] = []
        for stream in self.streams:
            if len(entries) >= count:
                break
            entries += self._xreadgroup({stream: ">"}, count - len(entries), None)
        return entries

    def read_batch(self, size: int, linger_s: float) -> list[Entry]:
        """Up to ``size`` new entries: wait up to READ_BLOCK_MS for the first one, then
        linger up to ``linger_s`` so that a burst of requests shares one batch."""
        entries = self.read_new(size)
        if not entries:
            entries = self._xreadgroup({s: ">" for s in self.streams}, 1, READ_BLOCK_MS)
            if not entries:
                return []
        deadline = time.monotonic() + linger_s
        while len(entries) < size and time.monotonic() < deadline:
            more = self.read_new(size - len(entries))
            if not more:
                time.sleep(0.005)
            entries += more
        return entries

    def reclaim(self, count: int) -> list[Entry]:
        """Take over up to ``count`` entries per stream whose consumer stopped answering
        (idle longer than claim_idle_ms); each says how many deliveries it lost."""
        now = time.monotonic()
        if now - self._last_reclaim < self.reclaim_every_s:
            return []
        self._last_reclaim = now
        entries: list[Entry] = []
        for stream in self.streams:
            try:
                reply = self.redis.xautoclaim(
                    stream, self.group, self.name, self.claim_idle_ms, "0-0", count=count
                )
            except redis.ResponseError as exc:
                if not _stream_vanished(exc):
                    raise
                self.ensure_groups()
                continue
            for entry_id, fields in reply[1]:
                if not fields:  # deleted meanwhile
                    continue
                entry_id = _text(entry_id)
                pending = self.redis.xpending_range(
                    stream, self.group, min=entry_id, max=entry_id, count=1
                )
                # The claim counted as a delivery; without a record, count one loss.
                lost = max(0, pending[0]["times_delivered"] - 1) if pending else 1
                entries.append(self._entry(stream, entry_id, fields, lost))
        return entries

    # ---------------------------------------------------------------- entries in hand

    @contextmanager
    def holding(self, entries: Iterable[Delivered]) -> Iterator[None]:
        """Keep ``entries`` fresh (``keep_alive``) while the block runs."""
        entries = list(entries)
        with self._lock:
            for entry in entries:
                self._held.setdefault(entry.stream, set()).add(entry.entry_id)
        try:
            yield
        finally:
            with self._lock:
                for entry in entries:
                    self._held.get(entry.stream, set()).discard(entry.entry_id)

    def held_count(self) -> int:
        with self._lock:
            return sum(len(ids) for ids in self._held.values())

    def keep_alive(self) -> None:
        """Reset the idle time of the entries in hand, so they are not re-claimed while
        this consumer works on them (JUSTID: without counting a new delivery)."""
        with self._lock:
            held = {stream: list(ids) for stream, ids in self._held.items() if ids}
        for stream, ids in held.items():
            self.redis.xclaim(stream, self.group, self.name, 0, ids, justid=True)

    # ---------------------------------------------------------------- finishing

    def ack(self, pipe: Any, entry: Delivered) -> None:
        """Queue the ack into ``pipe``; the entry is deleted too, so XLEN counts the work
        not yet finished."""
        pipe.xack(entry.stream, self.group, entry.entry_id)
        pipe.xdel(entry.stream, entry.entry_id)

    def finish(self, entry: Delivered) -> None:
        pipe = self.redis.pipeline(transaction=True)
        self.ack(pipe, entry)
        pipe.execute()


class Leases:
    """Leases on units, held by ``holder`` for ``ttl_ms`` unless renewed (``renew_all``,
    from the heartbeat): a holder that dies lets its units go within ``ttl_ms``."""

    def __init__(self, client: redis.Redis, keys: Keys, holder: str, ttl_ms: int) -> None:
        self.redis = client
        self.keys = keys
        self.holder = holder
        self.ttl_ms = ttl_ms
        self._release = client.register_script(RELEASE_LUA)
        self._renew = client.register_script(RENEW_LUA)
        self._lock = threading.Lock()
        self._held: set[str] = set()

    def acquire(self, unit: UnitKey) -> bool:
        key = self.keys.lease(unit)
        if self.redis.set(key, self.holder, nx=True, px=self.ttl_ms):
            with self._lock:
                self._held.add(key)
            return True
        return False

    def release(self, unit: UnitKey) -> None:
        key = self.keys.lease(unit)
        with self._lock:
            self._held.discard(key)
        self._release(keys=[key], args=[self.holder])

    def taken(self, unit: UnitKey) -> bool:
        """Someone (maybe this holder) holds the unit's lease."""
        return bool(self.redis.exists(self.keys.lease(unit)))

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def renew_all(self) -> None:
        for key in self.held():
            self._renew(keys=[key], args=[self.holder, self.ttl_ms])

    def release_all(self) -> None:
        """Give every held lease up (the holder is about to exit): the units may be made
        by another worker at once rather than after ``ttl_ms``."""
        for key in self.held():
            self._release(keys=[key], args=[self.holder])


class UnitJobs:
    """The tile workers' unit jobs: the priority streams in group ``workers``, and what
    becomes of a job (done, retried after a backoff, dead-lettered)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        worker_id: str,
        queue: QueueSettings,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.worker_id = worker_id
        self.queue = queue
        self.consumer = StreamConsumer(
            client,
            CONSUMER_GROUP,
            worker_id,
            [keys.stream(p) for p in PRIORITY_ORDER],
            queue.claim_idle_ms,
            # Often enough to take a dead worker's jobs soon after they go idle, rarely
            # enough that XAUTOCLAIM's scan is no load.
            reclaim_every_s=max(0.2, queue.claim_idle_ms / 4000),
        )

    @staticmethod
    def _job(entry: Entry) -> Job:
        job = Job.from_entry(entry.stream, entry.entry_id, entry.fields)
        # Each lost delivery (the worker died or hung holding it) counts as a failed attempt.
        return Job(job.stream, job.entry_id, job.unit, job.attempt + entry.lost)

    def read_batch(self, size: int, linger_s: float) -> list[Job]:
        return [self._job(e) for e in self.consumer.read_batch(size, linger_s)]

    def reclaim(self, count: int) -> list[Job]:
        return [self._job(e) for e in self.consumer.reclaim(count)]

    def complete(self, job: Job) -> None:
        pipe = self.redis.pipeline(transaction=True)
        self.consumer.ack(pipe, job)
        pipe.delete(self.keys.job(job.unit))
        # Also covers a duplicate job whose unit another worker made.
        pipe.publish(self.keys.done_channel, done_message(job.unit, ok=True))
        pipe.execute()

    def fail(self, job: Job, error: str) -> int:
        """Count a failed attempt; returns its number. From ``max_attempts`` on, the job is
        dead-lettered; before, it waits out a backoff (2 s, 4 s, ...) outside the stream, so
        a failure that is the device's or a dependency's moment is not retried at once."""
        attempt = job.attempt + 1
        if attempt >= self.queue.max_attempts:
            self.dead_letter(job, error, attempt)
            return attempt
        backoff = self.queue.retry_backoff_s * 2 ** (attempt - 1)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.keys.retry, {f"{attempt}|{job.stream}|{job.unit}": time.time() + backoff})
        self.consumer.ack(pipe, job)
        pipe.execute()
        return attempt

    def dead_letter(self, job: Job, error: str, attempts: int) -> None:
        """Move the job to the dead-letter stream and tell its waiters it failed."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            self.keys.dead_letter,
            {
                "unit": str(job.unit),
                "attempts": str(attempts),
                "error": error,
                "worker": self.worker_id,
                "failed_at": str(time.time()),
                "stream": job.stream,
            },
            maxlen=100_000,
            approximate=True,
        )
        self.consumer.ack(pipe, job)
        pipe.delete(self.keys.job(job.unit))
        pipe.publish(self.keys.done_channel, done_message(job.unit, ok=False, error=error))
        pipe.execute()


def run_until_stopped(stop: threading.Event, step: Callable[[], None], log: logging.Logger) -> None:
    """Call ``step`` until ``stop`` is set. A Redis error (a restart, a failover) costs a
    pause, not the process: entries not acked stay pending and are re-claimed."""
    while not stop.is_set():
        try:
            step()
        except redis.RedisError as exc:
            log.warning("Redis error (%s); retrying in 1 s", exc)
            stop.wait(1.0)


def stop_on_signals(stop: threading.Event, log: logging.Logger, what: str) -> None:
    """SIGTERM/SIGINT set ``stop``: the loop finishes what it holds, then returns."""

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %s: %s", signum, what)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
