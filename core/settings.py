"""Every setting of a deployment, one object per concern (environment prefix SYNTHTILES_).

Each field says its range; settings that depend on each other are checked together in
core.config.Config, which is also the one place that builds objects from them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_ENV = SettingsConfigDict(env_prefix="SYNTHTILES_", extra="ignore")


class RedisSettings(BaseSettings):
    model_config = _ENV

    # None: `synthtiles serve` starts a private redis-server and sets this for its children.
    redis_url: str | None = None
    # Every key this deployment writes starts with this prefix.
    redis_prefix: str = Field("synthtiles", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Cached tiles expire so that Redis's volatile-lru policy may evict them first; the
    # durable store refills them on the next request.
    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    # maxmemory of the embedded Redis (policy volatile-lru: only expiring keys are evicted).
    embedded_maxmemory: str = "256mb"


class StoreSettings(BaseSettings):
    model_config = _ENV

    # The durable store: file:///path (a directory; default file://{store_root}) or
    # s3://bucket/prefix (any S3 API; endpoint and credentials from the usual AWS_*
    # variables, e.g. AWS_ENDPOINT_URL for MinIO or Ceph).
    store_url: str | None = None
    # Local folder: the file store's directory when no store_url is given, and the home of
    # local-only files (the plan cache, `serve`'s Redis address) whatever the store is.
    store_root: Path = Path("data/tiles")
    # Where world plans are cached (built once per world, reused by every process);
    # default: {store_root}/.plans.
    plan_cache_dir: Path | None = None

    @property
    def plan_dir(self) -> Path:
        return self.plan_cache_dir or self.store_root / ".plans"


class PlanSettings(BaseSettings):
    model_config = _ENV

    # Plan chunks each process keeps in memory (an LRU; a chunk of `terra` is ~14 MB of
    # rasters and polylines): the bound on a roaming process's plan memory. Evicted chunks
    # are read back from the plan cache.
    plan_chunks_in_memory: int = Field(16, ge=1, le=4096)


class WorldSettings(BaseSettings):
    model_config = _ENV

    worlds_file: Path | None = None
    default_world: str | None = None


class QueueSettings(BaseSettings):
    """How jobs move through the Redis Streams; read by both the API and the workers."""

    model_config = _ENV

    # How long the "one job per unit" marker lives; a stale one only costs a duplicate job.
    job_ttl_s: int = Field(600, ge=1)
    # A delivered job idle this long (its worker died) is re-claimed by another worker.
    claim_idle_ms: int = Field(60_000, ge=100)
    # Interactive jobs nobody waits for any more (their clients left: a flood, a map panned
    # away) are dropped unmade while more than this many are queued (0: always), so the
    # clients still waiting are not stuck behind them. Seeding jobs are never dropped.
    drop_unwanted_above: int = Field(0, ge=0)
    # A failed job is retried after this many seconds, doubling with each further attempt.
    retry_backoff_s: float = Field(2.0, ge=0)
    # A job that failed this many times goes to the dead-letter stream.
    max_attempts: int = Field(3, ge=1, le=100)
    # Record how many times each unit was generated (for tests and `synthtiles eval`).
    record_generations: bool = False


class WorkerSettings(BaseSettings):
    model_config = _ENV

    device: str = "cpu"
    # Extra model registry searched before the models bundled with synthtiles.
    models_dir: Path | None = None
    batch_size: int = Field(8, ge=1, le=1024)
    batch_wait_ms: int = Field(50, ge=0, le=10_000)
    # Units per model call. Every call is padded to exactly this many, each unit at a fixed
    # slot, so a tile never depends on its batch-mates (worker/synthesis/batching.py). Default: 1 on
    # a CPU (batching gains little there), 8 on a GPU.
    device_batch_size: int | None = Field(None, ge=1, le=256)
    # How long a worker may hold a unit's generation lease without renewing it.
    lease_ttl_ms: int = Field(30_000, ge=100)
    # Heartbeat: worker liveness key TTL, lease and pending-entry renewal period.
    heartbeat_s: float = Field(5.0, gt=0)
    # Procedural generator only: artificial extra seconds per batch (used by tests).
    # A batch running longer than this is hung (a wedged kernel or device): the worker stops
    # renewing its leases and exits, so its jobs go to another worker and its supervisor
    # (serve, or Kubernetes) starts a fresh one. Also the longest wait for a unit that
    # another worker is generating.
    generation_timeout_s: float = Field(600.0, gt=0)
    procedural_delay_s: float = Field(0.0, ge=0)


class MetricsSettings(BaseSettings):
    model_config = _ENV

    # Prometheus metrics on their own port: a standalone `synthtiles worker` serves its own
    # there; `synthtiles serve` serves all its processes' there (and not on /metrics of the
    # public port).
    metrics_port: int | None = Field(None, ge=1, le=65535)


class ApiSettings(BaseSettings):
    model_config = _ENV

    # How long a tile request waits for its generation before answering 503 + Retry-After.
    tile_wait_timeout_s: float = Field(60.0, gt=0)
    # Retry-After seconds sent with a 503; the job keeps running meanwhile.
    retry_after_s: int = Field(5, ge=1)
    # Fair use (app/fair_use.py): interactive jobs queued beyond which a request that needs
    # generating gets 503 at once, and tiles needing generation per client per minute (429
    # beyond; 0: no limit). Cached tiles are never refused.
    max_queued_jobs: int = Field(10_000, ge=0)
    cold_rate_per_minute: int = Field(0, ge=0)
    # Request limits: the largest request body (the API takes small JSON; 413 above), and
    # the open connections and requests one API process holds before answering 503 at once
    # (uvicorn's limit_concurrency), so slow or idle clients cannot pile up without bound.
    max_request_body_bytes: int = Field(65_536, ge=1024)
    max_connections: int = Field(1024, ge=16)
    # Check a Redis-cached tile's bytes against its ETag (a sha256) before serving it as
    # immutable; a mismatch is dropped and the store answers. Memory-cached tiles were
    # checked on their way in. Off only where Redis is trusted and every cycle counts.
    verify_cached_tiles: bool = True
    # Per-process LRU of recently served tiles (0 disables it); hits skip Redis entirely.
    memory_cache_mb: int = Field(128, ge=0)
    # CORS: origins allowed to fetch tiles with GET ("*" lets any Leaflet page use the URL).
    cors_allow_origins: list[str] = ["*"]
    # Public base URL for TileJSON tile templates (default: taken from each request).
    public_url: str | None = None
    # Exports (POST /export): the size limit (413 above it), the size answered directly
    # (larger ones become jobs), local scratch space while a file is written (finished job
    # files are kept in the store, so any API replica can serve them).
    export_max_pixels: int = Field(100_000_000, ge=1)
    export_direct_max_pixels: int = Field(4_000_000, ge=0)
    export_dir: Path = Path("data/exports")
    export_timeout_s: float = Field(3600.0, gt=0)
    # Export jobs: unfinished ones per client (429 beyond; 0: no limit), and how long a
    # finished file is kept before its export worker deletes it.
    export_max_active_per_client: int = Field(2, ge=0)
    export_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    # API keys (comma-separated) and/or a file of `sha256:<hex>` lines: when any is set,
    # exports, export jobs and /metrics need `Authorization: Bearer KEY`; tiles and their
    # metadata too when tiles_require_key is set (`?key=KEY` also works on those URLs).
    api_keys: str | None = None
    api_keys_file: Path | None = None
    tiles_require_key: bool = False
    attribution: str = (
        "Synthetic imagery by synthtiles, generated by a diffusion model: not a real place"
    )
