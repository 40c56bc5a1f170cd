"""`synthtiles serve` with SYNTHTILES_METRICS_PORT: metrics on their own port only."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import httpx
import pytest

from tests.stack import free_port, metric_value
from tests.test_shutdown import serve_process, wait_ready

pytestmark = pytest.mark.integration


def test_metrics_move_to_their_own_port(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    serve = serve_process(
        tmp_path,
        f"metrics-{uuid.uuid4().hex[:8]}",
        port,
        SYNTHTILES_METRICS_PORT=str(metrics_port),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        assert httpx.get(f"{base}/worlds/testland/2/1/1.png", timeout=60).status_code == 200
        public = httpx.get(f"{base}/metrics", timeout=10)
        assert public.status_code == 404
        assert "SYNTHTILES_METRICS_PORT" in public.json()["error"]
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scraped.status_code == 200
        # Every process's metrics (the API's requests, the worker's units) and the queue's.
        assert metric_value(scraped.text, "synthtiles_http_requests_total") >= 1
        assert metric_value(scraped.text, "synthtiles_units_generated_total") >= 1
        assert "synthtiles_queue_depth" in scraped.text
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/", timeout=10).status_code == 404
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
