"""`synthtiles export-worker`: runs export jobs, so the API never holds an export's work.

Per job, from the export stream (consumer group ``exporters``): queue the units it needs at
seeding priority and wait for them (a window at a time, like `synthtiles seed`), write the
file in local scratch space with bounded memory, keep it in the store (any API replica
serves it), and mark the job done. A heartbeat keeps the job's record and stream entry
fresh and notices a cancellation; a job whose export worker died is re-claimed by another
(or by the restarted one). Expired files are deleted here too.
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
from core.exports import plan_export
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
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            log.info("signal %s: stopping after the current job's step", signum)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def run(self) -> None:
        self._ensure_group()
        log.info("export worker %s ready", self.id)
        while not self.stop_event.is_set():
            try:
                self.expire_files()
                for entry_id, job_id in self._reclaim() or self._read():
                    self._run_safely(entry_id, job_id)
            except redis.RedisError as exc:
                log.warning("Redis error (%s); retrying in 1 s", exc)
                self.stop_event.wait(1.0)

    # ------------------------------------------------------------------ the stream

    def _ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.keys.export_stream, EXPORTER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _entries(self, reply: list) -> list[tuple[str, str]]:
        return [
            (entry_id.decode(), fields[b"job"].decode()) for entry_id, fields in reply if fields
        ]

    def _read(self) -> list[tuple[str, str]]:
        try:
            reply = self.redis.xreadgroup(
                EXPORTER_GROUP, self.id, {self.keys.export_stream: ">"}, count=1, block=1000
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._ensure_group()  # Redis was restarted or flushed
            return []
        return self._entries(reply[0][1]) if reply else []

    def _reclaim(self) -> list[tuple[str, str]]:
        """Jobs whose export worker stopped beating (idle past the claim time)."""
        reply = self.redis.xautoclaim(
            self.keys.export_stream,
            EXPORTER_GROUP,
            self.id,
            self.config.queue.claim_idle_ms,
            "0-0",
            count=1,
        )
        return self._entries(reply[1])

    def _finish_entry(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.keys.export_stream, EXPORTER_GROUP, entry_id)
        pipe.xdel(self.keys.export_stream, entry_id)
        pipe.execute()

    # ------------------------------------------------------------------ one job

    def _run_safely(self, entry_id: str, job_id: str) -> None:
        """A job that cannot even be read (a damaged record) fails alone: it must not take
        the export worker down, or its re-claimed entry would do so again and again."""
        try:
            self.run_job(entry_id, job_id)
        except redis.RedisError:
            raise
        except Exception as exc:
            log.exception("export %s could not be run", job_id)
            self.redis.hset(
                self.keys.export_job(job_id),
                mapping={"status": "failed", "error": f"{type(exc).__name__}: {exc}"},
            )
            self._finish_entry(entry_id)

    def run_job(self, entry_id: str, job_id: str) -> None:
        key = self.keys.export_job(job_id)
        job = decode(self.redis.hgetall(key))
        if job.get("status") not in UNFINISHED:  # cancelled, expired, or done meanwhile
            self._finish_entry(entry_id)
            return
        self.redis.hset(key, mapping={"status": "running", "updated": time.time()})
        done = 0
        cancelled = threading.Event()
        beating = threading.Event()

        def heartbeat() -> None:
            while not beating.wait(self.config.worker.heartbeat_s):
                try:
                    self.redis.hset(key, mapping={"done": done, "updated": time.time()})
                    # JUSTID resets the entry's idle time: it is not re-claimed meanwhile.
                    self.redis.xclaim(
                        self.keys.export_stream, EXPORTER_GROUP, self.id, 0, [entry_id], justid=True
                    )
                    if self.redis.hget(key, "status") in (b"cancelled", None):
                        cancelled.set()
                except redis.RedisError as exc:
                    log.warning("export heartbeat failed: %s", exc)

        def progressed(_unit: object, _ok: bool) -> None:
            nonlocal done
            done += 1

        beat = threading.Thread(target=heartbeat, name="export-heartbeat", daemon=True)
        beat.start()
        try:
            outcome = self._export(job_id, job, progressed, cancelled)
        except ExportCancelled:
            outcome = {"status": "cancelled", "error": "cancelled by the client"}
        except Exception as exc:
            log.exception("export %s failed", job_id)
            outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        finally:
            beating.set()
            beat.join(timeout=5)
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
        self._finish_entry(entry_id)
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
