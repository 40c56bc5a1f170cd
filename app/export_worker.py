"""`synthtiles export-worker`: runs export jobs, so the API never holds an export's work.

Per job, from the export stream (consumer group ``exporters``): queue the units it needs at
seeding priority and wait for them (a window at a time, like `synthtiles seed`), write the
file in local scratch space with bounded memory, keep it in the store (any API replica
serves it), and mark the job done. A heartbeat keeps the job's record and stream entry
fresh and notices a cancellation; a job whose export worker died is re-claimed by another
(or by the restarted one). Expired files are deleted here too. Reading, re-claiming and
acking the stream and the heartbeat are the tile worker's too (core/consumer.py,
core/heartbeat.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time

import redis

from app.export import store_reader, write_export
from app.export_jobs import (
    EXPORTER_GROUP,
    UNFINISHED,
    decode,
    file_member,
    file_name,
    job_of_member,
)
from app.seeding import Deployment, SeedError
from core.bbox import parse_bbox
from core.config import Config
from core.consumer import (
    Entry,
    StreamConsumer,
    consumer_name,
    run_until_stopped,
    stop_on_signals,
)
from core.exports import plan_export
from core.heartbeat import Heartbeat
from core.protocol import Priority

log = logging.getLogger("synthtiles.exports")


class ExportCancelled(Exception):
    pass


class ExportWorker:
    def __init__(self, config: Config, worker_id: str | None = None) -> None:
        self.config = config
        self.keys = config.keys
        self.deployment = Deployment.connect(config)
        self.redis = self.deployment.redis
        self.store = self.deployment.store
        self.id = worker_id or consumer_name()
        self.consumer = StreamConsumer(
            self.redis,
            EXPORTER_GROUP,
            self.id,
            [self.keys.export_stream],
            config.queue.claim_idle_ms,
        )
        self.stop_event = threading.Event()

    def install_signal_handlers(self) -> None:
        stop_on_signals(self.stop_event, log, "stopping after the current job's step")

    def run(self) -> None:
        self.consumer.ensure_groups()
        log.info("export worker %s ready", self.id)
        run_until_stopped(self.stop_event, self._step, log)

    def _step(self) -> None:
        self.expire_files()
        # One job at a time: an export is long, and another export worker may take the next.
        for entry in self.consumer.reclaim(1) or self.consumer.read_batch(1, 0.0):
            self._run_safely(entry)

    # ------------------------------------------------------------------ one job

    def _run_safely(self, entry: Entry) -> None:
        """A job that cannot even be read (a damaged record) fails alone: it must not take
        the export worker down, or its re-claimed entry would do so again and again."""
        job_id = entry.fields["job"]
        try:
            self.run_job(entry)
        except redis.RedisError:
            raise
        except Exception as exc:
            log.exception("export %s could not be run", job_id)
            self.redis.hset(
                self.keys.export_job(job_id),
                mapping={"status": "failed", "error": f"{type(exc).__name__}: {exc}"},
            )
            self.consumer.finish(entry)

    def run_job(self, entry: Entry) -> None:
        job_id = entry.fields["job"]
        key = self.keys.export_job(job_id)
        job = decode(self.redis.hgetall(key))
        if job.get("status") not in UNFINISHED:  # cancelled, expired, or done meanwhile
            self.consumer.finish(entry)
            return
        self.redis.hset(key, mapping={"status": "running", "updated": time.time()})
        done = 0
        cancelled = threading.Event()

        def beat() -> None:
            self.redis.hset(key, mapping={"done": done, "updated": time.time()})
            self.consumer.keep_alive()  # the entry is not re-claimed meanwhile
            if self.redis.hget(key, "status") in (b"cancelled", None):
                cancelled.set()

        def progressed(_unit: object, _ok: bool) -> None:
            nonlocal done
            done += 1

        heartbeat = Heartbeat(
            self.config.worker.heartbeat_s,
            beat,
            log,
            name="export-heartbeat",
            failure="export heartbeat failed: %s",
        )
        with self.consumer.holding([entry]):
            heartbeat.start()
            try:
                outcome = self._export(job_id, job, progressed, cancelled)
            except ExportCancelled:
                outcome = {"status": "cancelled", "error": "cancelled by the client"}
            except Exception as exc:
                log.exception("export %s failed", job_id)
                outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            finally:
                heartbeat.stop(timeout_s=5)
        if self.redis.hget(key, "status") == b"cancelled":
            outcome = {"status": "cancelled", "error": "cancelled by the client"}
        if outcome["status"] == "cancelled":
            self.store.delete_file(file_name(file_member(job_id, job["format"])))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={**outcome, "done": done, "updated": time.time()})
        pipe.srem(self.keys.exports_active(job["client"]), job_id)
        if outcome["status"] == "done":
            expires = time.time() + self.config.api.export_ttl_s
            pipe.zadd(self.keys.export_expiry, {file_member(job_id, job["format"]): expires})
        pipe.execute()
        self.consumer.finish(entry)
        log.info("export %s: %s", job_id, outcome["status"])

    def _export(
        self,
        job_id: str,
        job: dict[str, str],
        progressed,
        cancelled: threading.Event,
    ) -> dict[str, str]:
        request = json.loads(job["request"])
        api = self.config.api
        world = self.deployment.world(request.get("world"))
        plan = plan_export(
            world,
            parse_bbox(request["bbox"]),
            request.get("format", "cog"),
            int(request["minzoom"]),
            int(request["maxzoom"]),
            api.export_max_pixels,
            request.get("options"),
        )
        try:
            _made, _skipped, failures = self.deployment.generate(
                world,
                plan.units(),
                Priority.SEEDING,
                on_done=progressed,
                timeout_s=api.export_timeout_s,
                cancelled=lambda: cancelled.is_set() or self.stop_event.is_set(),
            )
        except SeedError as exc:
            if cancelled.is_set():
                raise ExportCancelled from None
            raise RuntimeError(str(exc)) from None
        if failures:
            return {"status": "failed", "error": f"{len(failures)} units failed: {failures[:3]}"}
        scratch = api.export_dir / f".{job_id}{plan.suffix}"
        try:
            write_export(plan, store_reader(self.store, world.id), scratch, api.attribution)
            self.store.put_file(file_name(file_member(job_id, plan.format)), scratch)
        finally:
            scratch.unlink(missing_ok=True)
        return {"status": "done", "error": ""}

    # ------------------------------------------------------------------ expiry

    def expire_files(self) -> int:
        """Delete the files (and records) of exports past their time."""
        due = self.redis.zrangebyscore(self.keys.export_expiry, 0, time.time(), start=0, num=100)
        for raw in due:
            member = raw.decode()
            self.store.delete_file(file_name(member))
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(self.keys.export_job(job_of_member(member)))
            pipe.zrem(self.keys.export_expiry, member)
            pipe.execute()
            log.info("export file %s expired and was deleted", member)
        return len(due)
