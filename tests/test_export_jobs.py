"""Export jobs run by export workers: one job per distinct export, a per-client quota,
cancellation, re-claim after an export worker dies, and files that expire."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from app.export_worker import ExportWorker
from core.config import Config
from core.settings import RedisSettings, StoreSettings, WorkerSettings
from tests.stack import Stack, redis_url, running_stack
from tests.test_viewers_seed_export import wait_for_export
from tests.test_worker_failures import SLOW

pytestmark = pytest.mark.integration

# Every export below is a job (over 1000 px), one at a time per client, with slow units;
# a dead export worker's job is re-claimed quickly.
SETTINGS = {
    "SYNTHTILES_EXPORT_DIRECT_MAX_PIXELS": "1000",
    "SYNTHTILES_EXPORT_MAX_ACTIVE_PER_CLIENT": "1",
    **SLOW,
    "SYNTHTILES_PROCEDURAL_DELAY_S": "0.3",
}


def _body(west: float) -> dict:
    return {"world": "testland", "bbox": [west, -8, west + 4, -4], "zoom": 6}


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, **SETTINGS) as stack:
        yield stack


def _status(stack: Stack, job: str) -> dict:
    return httpx.get(f"{stack.base_url}/export/{job}", timeout=10).json()


def test_one_job_per_export_a_quota_per_client_and_cancellation(deployment: Stack) -> None:
    base = deployment.base_url
    first = httpx.post(f"{base}/export", json=_body(-10), timeout=30)
    again = httpx.post(f"{base}/export", json=_body(-10), timeout=30)
    assert first.status_code == again.status_code == 202
    job = first.json()["job"]
    assert again.json()["job"] == job and again.json()["existing"] is True
    info = deployment.redis.xinfo_stream(f"{deployment.prefix}:jobs:export")
    assert info["entries-added"] == 1  # the same export asked twice is one job

    other = httpx.post(f"{base}/export", json=_body(-20), timeout=30)
    assert other.status_code == 429 and other.json()["reason"] == "export_quota"
    assert "Retry-After" in other.headers

    cancelled = httpx.delete(f"{base}/export/{job}", timeout=10)
    assert cancelled.json()["status"] == "cancelled"
    deadline = time.monotonic() + 30
    while _status(deployment, job)["status"] != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _status(deployment, job)["status"] == "cancelled"
    assert httpx.get(f"{base}/export/{job}/file", timeout=10).status_code == 404
    # The cancelled job no longer counts against the client's quota.
    other = httpx.post(f"{base}/export", json=_body(-20), timeout=30)
    assert other.status_code == 202, other.text
    done = wait_for_export(f"{base}{other.json()['status_url']}")
    assert httpx.get(f"{base}{done['file_url']}", timeout=30).status_code == 200
    # A finished export deleted by its owner: record and file gone.
    deleted = httpx.delete(f"{base}/export/{other.json()['job']}", timeout=10)
    assert deleted.json()["status"] == "deleted"
    assert httpx.get(f"{base}{done['file_url']}", timeout=10).status_code == 404
    assert httpx.delete(f"{base}/export/{other.json()['job']}", timeout=10).status_code == 404


def test_a_job_whose_export_worker_died_is_resumed(deployment: Stack) -> None:
    base = deployment.base_url
    accepted = httpx.post(f"{base}/export", json=_body(-30), timeout=30)
    job = accepted.json()["job"]
    deadline = time.monotonic() + 30
    while _status(deployment, job)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    (api,) = [p for p in deployment.processes if "serve" in psutil.Process(p.pid).cmdline()]
    (exporter,) = [
        child for child in psutil.Process(api.pid).children() if "export-worker" in child.cmdline()
    ]
    exporter.send_signal(signal.SIGKILL)  # serve starts another, which re-claims the job
    done = wait_for_export(f"{base}/export/{job}")
    assert httpx.get(f"{base}{done['file_url']}", timeout=30).status_code == 200
    assert "export-worker" in " ".join(
        " ".join(child.cmdline()) for child in psutil.Process(api.pid).children()
    )


def test_expired_export_files_are_deleted(tmp_path: Path) -> None:
    prefix = f"synthtiles-test-{uuid.uuid4().hex[:8]}"
    config = Config.from_env(
        redis=RedisSettings(redis_url=redis_url(), redis_prefix=prefix),
        store=StoreSettings(store_root=tmp_path / "store"),
        worker=WorkerSettings(),
    )
    worker = ExportWorker(config)
    keys = config.keys
    source = tmp_path / "file.tif"
    for job, expires in (("old", time.time() - 1), ("fresh", time.time() + 3600)):
        source.write_bytes(b"tiff")
        config.tile_store.put_file(f"exports/{job}.tif", source)
        worker.redis.hset(keys.export_job(job), mapping={"status": "done", "format": "cog"})
        worker.redis.zadd(keys.export_expiry, {f"{job}.tif": expires})
    try:
        assert worker.expire_files() == 1
        assert config.tile_store.open_file("exports/old.tif") is None
        assert not worker.redis.exists(keys.export_job("old"))
        kept = config.tile_store.open_file("exports/fresh.tif")
        assert kept is not None
        kept[0].close()
        assert worker.redis.zrange(keys.export_expiry, 0, -1) == [b"fresh.tif"]
    finally:
        for key in worker.redis.scan_iter(match=f"{prefix}:*"):
            worker.redis.delete(key)
