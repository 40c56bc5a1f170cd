"""The worker process: take jobs from the Redis Streams, generate units, store and announce tiles.

One process per GPU (or the embedded CPU one). The loop, per DESIGN §2:

    read a batch (interactive first) -> plan each job's missing dependencies -> generate
    them wave by wave in batches -> split into tiles -> PNG -> durable store (write-once)
    -> fill the Redis cache -> publish "done" -> XACK

A background heartbeat keeps this worker's liveness key, its unit leases and its pending
stream entries fresh, so only a worker that really died has its jobs re-claimed (XAUTOCLAIM).
Alive is not enough: a batch running longer than ``generation_timeout_s`` (a wedged kernel
or device) makes the heartbeat give the batch's units up and exit the process with
EXIT_HUNG, so another worker takes the jobs and the supervisor starts a fresh worker.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis

from core.config import Config
from core.plans import warm_plan
from core.protocol import (
    CONSUMER_GROUP,
    PRIORITY_ORDER,
    Job,
    Keys,
    Priority,
    QueueProtocol,
    done_message,
)
from core.settings import QueueSettings, RedisSettings, WorkerSettings
from core.store import TileStore, check_world_records
from core.tile_cache import TileCache
from core.units import UnitKey
from core.world import World, WorldCatalog
from worker import metrics
from worker.generators import Generator, load_generator
from worker.producer import UnitProducer

log = logging.getLogger("synthtiles.worker")

# Delete a key only if it still holds our token (a lease we own).
_RELEASE_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
_RENEW_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


# EX_TEMPFAIL: the worker stopped itself because a batch hung; restarting it is the fix.
EXIT_HUNG = 75


class LeaseLost(RuntimeError):
    pass


@dataclass
class _InFlight:
    """What the heartbeat must keep fresh while a batch runs."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    leases: set[str] = field(default_factory=set)
    entries: dict[str, set[str]] = field(default_factory=dict)  # stream -> entry ids
    batch_started: float | None = None  # time.monotonic() when the running generation began


def _stream_vanished(exc: redis.ResponseError) -> bool:
    """The stream or its group is gone (e.g. FLUSHALL): recreate them rather than fail."""
    return str(exc).startswith(("NOGROUP", "UNBLOCKED"))


class Worker:
    def __init__(
        self,
        client: redis.Redis,
        catalog: WorldCatalog,
        store: TileStore,
        redis_settings: RedisSettings,
        queue_settings: QueueSettings,
        settings: WorkerSettings,
        worker_id: str | None = None,
    ) -> None:
        self.redis = client
        self.catalog = catalog
        self.store = store
        self.redis_settings = redis_settings
        self.queue = queue_settings
        self.settings = settings
        self.keys = Keys(self.redis_settings.redis_prefix)
        self.protocol = QueueProtocol(client, self.keys, queue_settings.job_ttl_s)
        self.cache = TileCache(self.keys, redis_settings.cache_ttl_s)
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        self._generators: dict[str, Generator] = {}
        self._inflight = _InFlight()
        self._release = self.redis.register_script(_RELEASE_LUA)
        self._renew = self.redis.register_script(_RENEW_LUA)
        self._last_reclaim = 0.0
        self.producer = UnitProducer(store, self.generator_for)

    @classmethod
    def from_config(cls, config: Config, worker_id: str | None = None) -> Worker:
        return cls(
            config.redis_client(),
            config.catalog,
            config.tile_store,
            config.redis,
            config.queue,
            config.worker,
            worker_id,
        )

    # ---------------------------------------------------------------- lifecycle

    def generator_for(self, world: World) -> Generator:
        generator = self._generators.get(world.model)
        if generator is None:
            generator = load_generator(world.model, self.settings)
            self._generators[world.model] = generator
        return generator

    def run(self) -> None:
        """Serve jobs until SIGTERM/SIGINT (or ``stop_event``); the current batch is finished."""
        self.protocol.ensure_groups()
        check_world_records(self.store, self.catalog)  # never add to a changed world
        # Load the default world's model and plan before announcing readiness.
        self.generator_for(self.catalog.default)
        warm_plan(self.catalog.default)
        self._beat()
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        heartbeat.start()
        log.info("worker %s ready (models: %s)", self.id, ", ".join(self._generators))
        try:
            while not self.stop_event.is_set():
                try:
                    self.protocol.release_due_retries(time.time())
                    jobs = self._reclaim() + self._read_batch()
                    if jobs:
                        self.process(jobs)
                except (redis.ConnectionError, redis.ResponseError) as exc:
                    # Unacknowledged jobs stay pending and are re-claimed; wait and go on.
                    log.warning("Redis error (%s); retrying in 1 s", exc)
                    self.stop_event.wait(1.0)
        finally:
            self.stop_event.set()
            heartbeat.join(timeout=2)
            try:
                self.redis.delete(self.keys.worker(self.id))
            except redis.RedisError as exc:  # the key expires by itself anyway
                log.warning("could not remove liveness key: %s", exc)
            log.info("worker %s stopped", self.id)

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            log.info("signal %s: finishing the current batch, then exiting", signum)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _beat(self) -> None:
        info = {
            "id": self.id,
            "pid": os.getpid(),
            "device": self.settings.device,
            "models": sorted(self._generators),
            "ts": time.time(),
        }
        ttl = max(1, int(self.settings.heartbeat_s * 3))
        self.redis.set(self.keys.worker(self.id), json.dumps(info), ex=ttl)

    def _heartbeat_loop(self) -> None:
        while not self.stop_event.wait(self.settings.heartbeat_s):
            if self._batch_hung():
                self._give_up_hung_batch()
                return
            try:
                self._beat()
                with self._inflight.lock:
                    leases = list(self._inflight.leases)
                    entries = {s: list(ids) for s, ids in self._inflight.entries.items() if ids}
                for lease in leases:
                    self._renew(keys=[lease], args=[self.id, self.settings.lease_ttl_ms])
                for stream, ids in entries.items():
                    # JUSTID resets the idle time without counting a new delivery.
                    self.redis.xclaim(stream, CONSUMER_GROUP, self.id, 0, ids, justid=True)
            except redis.RedisError as exc:  # keep beating; Redis may come back
                log.warning("heartbeat failed: %s", exc)

    def _batch_hung(self) -> bool:
        started = self._inflight.batch_started
        return (
            started is not None and time.monotonic() - started > self.settings.generation_timeout_s
        )

    def _give_up_hung_batch(self) -> None:
        """Release the batch's leases so another worker may generate its units at once (its
        stream entries are re-claimed once idle, counting as a failed attempt), then exit:
        a wedged generation cannot be interrupted from Python, only its process ended."""
        with self._inflight.lock:
            leases = list(self._inflight.leases)
            entries = sum(len(ids) for ids in self._inflight.entries.values())
        log.error(
            "batch running for more than %.0f s (SYNTHTILES_GENERATION_TIMEOUT_S): giving up "
            "%d leases and %d jobs, exiting with %d so a fresh worker replaces this one",
            self.settings.generation_timeout_s,
            len(leases),
            entries,
            EXIT_HUNG,
        )
        try:
            for lease in leases:
                self._release(keys=[lease], args=[self.id])
            self.redis.delete(self.keys.worker(self.id))
        except redis.RedisError as exc:  # they expire by themselves
            log.warning("could not release the hung batch's leases: %s", exc)
        logging.shutdown()
        os._exit(EXIT_HUNG)

    # ---------------------------------------------------------------- reading jobs

    def _xreadgroup(self, streams: dict[str, str], count: int, block: int | None) -> list[Job]:
        try:
            reply = self.redis.xreadgroup(
                CONSUMER_GROUP, self.id, streams, count=count, block=block
            )
        except redis.ResponseError as exc:
            if not _stream_vanished(exc):
                raise
            self.protocol.ensure_groups()  # Redis was flushed: recreate and go on
            return []
        jobs = []
        for stream, entries in reply or []:
            stream = stream.decode() if isinstance(stream, bytes) else stream
            for entry_id, fields in entries:
                jobs.append(self._job(stream, entry_id, fields))
        return jobs

    @staticmethod
    def _job(stream: str, entry_id: bytes | str, fields: dict) -> Job:
        decoded = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()
        }
        entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return Job.from_entry(stream, entry, decoded)

    def _read_new(self, count: int) -> list[Job]:
        """Non-blocking read, interactive stream first."""
        jobs: list[Job] = []
        for priority in PRIORITY_ORDER:
            if len(jobs) >= count:
                break
            jobs += self._xreadgroup({self.keys.stream(priority): ">"}, count - len(jobs), None)
        return jobs

    def _read_batch(self) -> list[Job]:
        size = self.settings.batch_size
        jobs = self._read_new(size)
        if not jobs:
            streams = {self.keys.stream(p): ">" for p in PRIORITY_ORDER}
            jobs = self._xreadgroup(streams, 1, 1000)  # wake on the first job, or after 1 s
            if not jobs:
                return []
        # Linger briefly so that a burst of requests shares one batch.
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(jobs) < size and time.monotonic() < deadline:
            more = self._read_new(size - len(jobs))
            if not more:
                time.sleep(0.005)
            jobs += more
        return jobs

    def _reclaim(self) -> list[Job]:
        """Take over jobs whose worker stopped answering (idle longer than claim_idle_ms)."""
        now = time.monotonic()
        if now - self._last_reclaim < max(0.2, self.queue.claim_idle_ms / 4000):
            return []
        self._last_reclaim = now
        jobs: list[Job] = []
        for priority in PRIORITY_ORDER:
            stream = self.keys.stream(priority)
            try:
                reply = self.redis.xautoclaim(
                    stream,
                    CONSUMER_GROUP,
                    self.id,
                    self.queue.claim_idle_ms,
                    "0-0",
                    count=self.settings.batch_size,
                )
            except redis.ResponseError as exc:
                if not _stream_vanished(exc):
                    raise
                self.protocol.ensure_groups()
                continue
            for entry_id, fields in reply[1]:
                if not fields:
                    continue
                job = self._job(stream, entry_id, fields)
                pending = self.redis.xpending_range(
                    stream, CONSUMER_GROUP, min=job.entry_id, max=job.entry_id, count=1
                )
                crashes = max(0, pending[0]["times_delivered"] - 1) if pending else 1
                jobs.append(Job(job.stream, job.entry_id, job.unit, job.attempt + crashes))
                metrics.JOBS_RECLAIMED.inc()
                log.warning("re-claimed job %s for unit %s", job.entry_id, job.unit)
        return jobs

    # ---------------------------------------------------------------- processing

    def process(self, jobs: list[Job]) -> None:
        with self._inflight.lock:
            for job in jobs:
                self._inflight.entries.setdefault(job.stream, set()).add(job.entry_id)
        try:
            runnable = []
            for job in jobs:
                if job.attempt >= self.queue.max_attempts:
                    self._dead_letter(job, f"worker stopped while generating ({job.attempt} times)")
                elif not self._dropped_unwanted(job):
                    runnable.append(job)
            by_world: dict[str, list[Job]] = {}
            for job in runnable:
                by_world.setdefault(job.unit.world, []).append(job)
            for world_id, world_jobs in by_world.items():
                self._process_world(world_id, world_jobs)
        finally:
            with self._inflight.lock:
                for job in jobs:
                    self._inflight.entries.get(job.stream, set()).discard(job.entry_id)

    def _dropped_unwanted(self, job: Job) -> bool:
        """Drop an interactive job nobody waits for any more, while more than
        drop_unwanted_above jobs are queued (0: always)."""
        if job.stream != self.keys.stream(Priority.INTERACTIVE):
            return False
        above = self.queue.drop_unwanted_above
        if not self.protocol.drop_unwanted(job.stream, job.entry_id, job.unit, above):
            return False
        metrics.JOBS_DROPPED.inc()
        log.debug("dropped job for %s: nobody waits for it any more", job.unit)
        return True

    def _process_world(self, world_id: str, jobs: list[Job]) -> None:
        world = self.catalog.get(world_id)
        if world is None:
            for job in jobs:
                self._dead_letter(job, f"unknown world {world_id!r}")
            return
        try:
            to_complete = self._produce_jobs(world, jobs)
        except Exception as exc:
            if len(jobs) == 1:
                log.exception("generation failed for %s", jobs[0].unit)
                self._fail(jobs[0], exc)
                return
            # Isolate the failing job: retry each one alone before blaming any.
            for job in jobs:
                self._process_world(world_id, [job])
            return
        for job in to_complete:
            self._complete(job)

    def _produce_jobs(self, world: World, jobs: list[Job]) -> list[Job]:
        """Make the jobs' units and their dependencies; between waves, jobs whose clients
        all left are dropped (and not made). Returns the jobs still to complete."""
        live = list(jobs)

        def prune(_targets: list[UnitKey]) -> list[UnitKey]:
            nonlocal live
            live = [job for job in live if not self._dropped_unwanted(job)]
            return [job.unit for job in live]

        self.producer.produce(
            world,
            [job.unit for job in jobs],
            self.settings.batch_size,
            make=lambda chunk: self._generate_chunk(world, chunk),
            prune=prune,
        )
        return live

    def unit_exists(self, world: World, unit: UnitKey) -> bool:
        return self.producer.unit_exists(world, unit)

    def _acquire(self, unit: UnitKey) -> bool:
        key = self.keys.lease(unit)
        if self.redis.set(key, self.id, nx=True, px=self.settings.lease_ttl_ms):
            with self._inflight.lock:
                self._inflight.leases.add(key)
            return True
        return False

    def _release_lease(self, unit: UnitKey) -> None:
        key = self.keys.lease(unit)
        with self._inflight.lock:
            self._inflight.leases.discard(key)
        self._release(keys=[key], args=[self.id])

    def _generate_chunk(self, world: World, units: list[UnitKey]) -> list[UnitKey]:
        mine: list[UnitKey] = []
        foreign: list[UnitKey] = []
        for unit in units:
            if self.unit_exists(world, unit):
                continue
            (mine if self._acquire(unit) else foreign).append(unit)
        try:
            if mine:
                self._generate_owned(world, mine)
        finally:
            for unit in mine:
                self._release_lease(unit)
        made = list(mine)
        for unit in foreign:
            made += self._await_foreign(world, unit)
        return made

    def _await_foreign(self, world: World, unit: UnitKey) -> list[UnitKey]:
        """Another worker holds the unit's lease: wait for its tiles, or take over if it died.
        A holder that neither finishes nor dies within the generation timeout fails this job
        (it is retried), rather than keeping this worker waiting for ever."""
        deadline = time.monotonic() + self.settings.generation_timeout_s
        while True:
            if self.unit_exists(world, unit):
                return []
            if not self.redis.exists(self.keys.lease(unit)):
                return self._generate_chunk(world, [unit])
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"unit {unit} is held by another worker for more than "
                    f"{self.settings.generation_timeout_s:.0f} s"
                )
            time.sleep(0.05)

    def _generate_owned(self, world: World, units: list[UnitKey]) -> None:
        started = time.perf_counter()
        self._inflight.batch_started = time.monotonic()  # watched by the heartbeat
        try:
            stored = self.producer.generate(world, units)
        finally:
            self._inflight.batch_started = None
        pipe = self.redis.pipeline(transaction=False)
        for unit, tiles in stored.items():
            for z, x, y, png in tiles:
                self.cache.write(pipe, world, z, x, y, png)
            pipe.delete(self.keys.job(unit))
            pipe.publish(self.keys.done_channel, done_message(unit, ok=True))
            if self.queue.record_generations:
                pipe.hincrby(self.keys.generations(world.id), f"{unit.z}/{unit.ux}/{unit.uy}", 1)
        pipe.execute()
        metrics.UNITS_GENERATED.labels(world.id).inc(len(units))
        metrics.BATCH_SIZE.observe(len(units))
        metrics.GENERATION_SECONDS.observe(time.perf_counter() - started)

    # ---------------------------------------------------------------- job outcomes

    def _ack(self, pipe, job: Job) -> None:
        pipe.xack(job.stream, CONSUMER_GROUP, job.entry_id)
        pipe.xdel(job.stream, job.entry_id)  # keeps XLEN = jobs not yet finished

    def _complete(self, job: Job) -> None:
        pipe = self.redis.pipeline(transaction=True)
        self._ack(pipe, job)
        pipe.delete(self.keys.job(job.unit))
        # Also covers a duplicate job whose unit another worker made.
        pipe.publish(self.keys.done_channel, done_message(job.unit, ok=True))
        pipe.execute()

    def _fail(self, job: Job, exc: BaseException) -> None:
        attempt = job.attempt + 1
        error = f"{type(exc).__name__}: {exc}"
        if attempt >= self.queue.max_attempts:
            self._dead_letter(job, error, attempt)
            return
        # Back off (2 s, 4 s, ...): a failure that is the device's or a dependency's moment
        # is not retried at once, and the job waits outside the stream meanwhile.
        backoff = self.queue.retry_backoff_s * 2 ** (attempt - 1)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.keys.retry, {f"{attempt}|{job.stream}|{job.unit}": time.time() + backoff})
        self._ack(pipe, job)
        pipe.execute()
        metrics.JOBS_RETRIED.inc()
        log.warning(
            "unit %s failed (attempt %d of %d): %s",
            job.unit,
            attempt,
            self.queue.max_attempts,
            error,
        )

    def _dead_letter(self, job: Job, error: str, attempts: int | None = None) -> None:
        attempts = job.attempt if attempts is None else attempts
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            self.keys.dead_letter,
            {
                "unit": str(job.unit),
                "attempts": str(attempts),
                "error": error,
                "worker": self.id,
                "failed_at": str(time.time()),
                "stream": job.stream,
            },
            maxlen=100_000,
            approximate=True,
        )
        self._ack(pipe, job)
        pipe.delete(self.keys.job(job.unit))
        pipe.publish(self.keys.done_channel, done_message(job.unit, ok=False, error=error))
        pipe.execute()
        metrics.JOBS_DEAD_LETTERED.inc()
        log.error("unit %s dead-lettered after %d attempts: %s", job.unit, attempts, error)
