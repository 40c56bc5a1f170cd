"""The tile worker: take unit jobs from the Redis Streams, generate units, store and announce tiles.

One process per GPU (or the embedded CPU one). The loop, per DESIGN §2:

    read a batch (interactive first) -> plan each job's missing dependencies -> generate
    them wave by wave in batches -> split into tiles -> PNG -> durable store (write-once)
    -> fill the Redis cache -> publish "done" -> XACK

Reading, re-claiming, acking, retrying and dead-lettering jobs and the unit leases are the
queue protocol's (core/consumer.py); the heartbeat and the hang watchdog are core/heartbeat.py.
Here: what to do with a batch of jobs, this worker's liveness key, and giving a hung batch up.
A batch running longer than ``generation_timeout_s`` (a wedged kernel or device) makes the
heartbeat release the batch's units and exit the process with EXIT_HUNG, so another worker
takes the jobs and the supervisor starts a fresh worker.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import redis

from core.config import Config
from core.consumer import Leases, UnitJobs, consumer_name, run_until_stopped, stop_on_signals
from core.heartbeat import Heartbeat, Watchdog
from core.plans import warm_plan
from core.protocol import Job, Keys, Priority, QueueProtocol, done_message
from core.settings import QueueSettings, RedisSettings, WorkerSettings
from core.store import TileStore, check_world_records
from core.tile_cache import TileCache
from core.units import UnitKey
from core.world import World, WorldCatalog
from worker import metrics
from worker.synthesis.generators import Generator, load_generator
from worker.synthesis.producer import UnitProducer

log = logging.getLogger("synthtiles.worker")

# EX_TEMPFAIL: the worker stopped itself because a batch hung; restarting it is the fix.
EXIT_HUNG = 75


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
        self.id = worker_id or consumer_name()
        self.jobs = UnitJobs(client, self.keys, self.id, queue_settings)
        self.leases = Leases(client, self.keys, self.id, settings.lease_ttl_ms)
        self.watchdog = Watchdog(settings.generation_timeout_s)
        self.stop_event = threading.Event()
        self._generators: dict[str, Generator] = {}
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
        """Serve jobs until SIGTERM/SIGINT (or ``stop_event``); the current batch is finished
        (the heartbeat keeps its leases and entries fresh until then)."""
        self.jobs.consumer.ensure_groups()
        check_world_records(self.store, self.catalog)  # never add to a changed world
        # Load the default world's model and plan before announcing readiness.
        self.generator_for(self.catalog.default)
        warm_plan(self.catalog.default)
        self._beat()
        heartbeat = Heartbeat(
            self.settings.heartbeat_s,
            self._heartbeat,
            log,
            watchdog=self.watchdog,
            on_hung=self._give_up_hung_batch,
        ).start()
        log.info("worker %s ready (models: %s)", self.id, ", ".join(self._generators))
        try:
            run_until_stopped(self.stop_event, self._step, log)
        finally:
            self.stop_event.set()
            heartbeat.stop(timeout_s=2)
            try:
                self.redis.delete(self.keys.worker(self.id))
            except redis.RedisError as exc:  # the key expires by itself anyway
                log.warning("could not remove liveness key: %s", exc)
            log.info("worker %s stopped", self.id)

    def install_signal_handlers(self) -> None:
        stop_on_signals(self.stop_event, log, "finishing the current batch, then exiting")

    def _step(self) -> None:
        self.protocol.release_due_retries(time.time())
        jobs = self._reclaim() + self.jobs.read_batch(
            self.settings.batch_size, self.settings.batch_wait_ms / 1000
        )
        if jobs:
            self.process(jobs)

    def _beat(self) -> None:
        """The liveness key: `serve` and the API's health see this worker alive by it."""
        info = {
            "id": self.id,
            "pid": os.getpid(),
            "device": self.settings.device,
            "models": sorted(self._generators),
            "ts": time.time(),
        }
        ttl = max(1, int(self.settings.heartbeat_s * 3))
        self.redis.set(self.keys.worker(self.id), json.dumps(info), ex=ttl)

    def _heartbeat(self) -> None:
        self._beat()
        self.leases.renew_all()
        self.jobs.consumer.keep_alive()

    def _give_up_hung_batch(self) -> None:
        """Release the batch's leases so another worker may generate its units at once (its
        stream entries are re-claimed once idle, counting as a failed attempt), then exit:
        a wedged generation cannot be interrupted from Python, only its process ended."""
        log.error(
            "batch running for more than %.0f s (SYNTHTILES_GENERATION_TIMEOUT_S): giving up "
            "%d leases and %d jobs, exiting with %d so a fresh worker replaces this one",
            self.settings.generation_timeout_s,
            len(self.leases.held()),
            self.jobs.consumer.held_count(),
            EXIT_HUNG,
        )
        try:
            self.leases.release_all()
            self.redis.delete(self.keys.worker(self.id))
        except redis.RedisError as exc:  # they expire by themselves
            log.warning("could not release the hung batch's leases: %s", exc)
        logging.shutdown()
        os._exit(EXIT_HUNG)

    def _reclaim(self) -> list[Job]:
        """Take over jobs whose worker stopped answering (idle longer than claim_idle_ms)."""
        jobs = self.jobs.reclaim(self.settings.batch_size)
        for job in jobs:
            metrics.JOBS_RECLAIMED.inc()
            log.warning("re-claimed job %s for unit %s", job.entry_id, job.unit)
        return jobs

    # ---------------------------------------------------------------- processing

    def process(self, jobs: list[Job]) -> None:
        with self.jobs.consumer.holding(jobs):
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
            self.jobs.complete(job)

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

    def _generate_chunk(self, world: World, units: list[UnitKey]) -> list[UnitKey]:
        mine: list[UnitKey] = []
        foreign: list[UnitKey] = []
        for unit in units:
            if self.unit_exists(world, unit):
                continue
            (mine if self.leases.acquire(unit) else foreign).append(unit)
        try:
            if mine:
                self._generate_owned(world, mine)
        finally:
            for unit in mine:
                self.leases.release(unit)
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
            if not self.leases.taken(unit):
                return self._generate_chunk(world, [unit])
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"unit {unit} is held by another worker for more than "
                    f"{self.settings.generation_timeout_s:.0f} s"
                )
            time.sleep(0.05)

    def _generate_owned(self, world: World, units: list[UnitKey]) -> None:
        started = time.perf_counter()
        with self.watchdog.watching():  # the heartbeat gives a hung batch up
            stored = self.producer.generate(world, units)
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

    def _fail(self, job: Job, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        attempt = self.jobs.fail(job, error)
        if attempt >= self.queue.max_attempts:
            self._dead_lettered(job, error, attempt)
            return
        metrics.JOBS_RETRIED.inc()
        log.warning(
            "unit %s failed (attempt %d of %d): %s",
            job.unit,
            attempt,
            self.queue.max_attempts,
            error,
        )

    def _dead_letter(self, job: Job, error: str) -> None:
        self.jobs.dead_letter(job, error, job.attempt)
        self._dead_lettered(job, error, job.attempt)

    def _dead_lettered(self, job: Job, error: str, attempts: int) -> None:
        metrics.JOBS_DEAD_LETTERED.inc()
        log.error("unit %s dead-lettered after %d attempts: %s", job.unit, attempts, error)
