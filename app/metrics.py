"""API-side Prometheus metrics, and the /metrics exposition.

With several uvicorn processes (and the embedded worker) the values are aggregated through
``PROMETHEUS_MULTIPROC_DIR``, which ``synthtiles serve`` sets before any process starts.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

HTTP_REQUESTS = Counter(
    "synthtiles_http_requests_total",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "synthtiles_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# layer: memory (the process's LRU), redis, store (the route's store reads, and the hot
# path's stored files sent by granian); result: hit or miss (misses counted by the route).
TILE_CACHE = Counter(
    "synthtiles_tile_cache_total", "Tile lookups by cache layer and result", ["layer", "result"]
)
TILE_WAIT_SECONDS = Histogram(
    "synthtiles_tile_wait_seconds",
    "Time a request waited for its tile to be generated",
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120),
)
TILE_WAIT_TIMEOUTS = Counter(
    "synthtiles_tile_wait_timeouts_total", "Requests answered 503 because generation took too long"
)
CLIENTS_GONE = Counter(
    "synthtiles_clients_gone_total",
    "Requests that stopped waiting for a generation because their client disconnected",
)
JOBS_SWEPT = Counter(
    "synthtiles_jobs_swept_total",
    "Queued interactive jobs nobody waited for, deleted to make room in a full queue",
)
REFUSALS = Counter(
    "synthtiles_refusals_total",
    "Requests refused before any work: queue_full (503), rate_limited (429), "
    "redis_down (503), unauthorized (401/403)",
    ["reason"],
)
CACHE_INTEGRITY_FAILURES = Counter(
    "synthtiles_cache_integrity_failures_total",
    "Redis-cached tiles whose bytes did not match their ETag (not served; the store was used)",
)
REDIS_ERRORS = Counter(
    "synthtiles_redis_errors_total", "Redis failures the API worked around or reported"
)
GENERATION_FAILURES = Counter(
    "synthtiles_generation_failures_total",
    "Requests answered 500 because their job was dead-lettered",
)


class _QueueCollector:
    """Queue gauges read from Redis at scrape time (not process-local values)."""

    def __init__(self, depths: dict[str, int], in_progress: dict[str, int]) -> None:
        self.depths = depths
        self.in_progress = in_progress

    def collect(self):
        depth = GaugeMetricFamily(
            "synthtiles_queue_depth", "Jobs waiting to be taken, by priority", labels=["priority"]
        )
        for priority, value in self.depths.items():
            depth.add_metric([priority], value)
        taken = GaugeMetricFamily(
            "synthtiles_queue_in_progress",
            "Jobs taken but not yet finished, by priority",
            labels=["priority"],
        )
        for priority, value in self.in_progress.items():
            taken.add_metric([priority], value)
        return [depth, taken]


def render(queue_depths: dict[str, int], queue_in_progress: dict[str, int]) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    queue_registry = CollectorRegistry()
    queue_registry.register(_QueueCollector(queue_depths, queue_in_progress))
    return generate_latest(registry) + generate_latest(queue_registry)
