"""Settings shared by the API and the workers, one object per concern (env prefix SYNTHTILES_)."""

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
    redis_prefix: str = "synthtiles"
    # Cached tiles expire so that Redis's volatile-lru policy may evict them first; the
    # durable store refills them on the next request.
    cache_ttl_s: int = 7 * 24 * 3600
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


class WorldSettings(BaseSettings):
    model_config = _ENV

    worlds_file: Path | None = None
    default_world: str | None = None


class QueueSettings(BaseSettings):
    """How jobs move through the Redis Streams; read by both the API and the workers."""

    model_config = _ENV

    # How long the "one job per unit" marker lives; a stale one only costs a duplicate job.
    job_ttl_s: int = 600
    # A delivered job idle this long (its worker died) is re-claimed by another worker.
    claim_idle_ms: int = 60_000
    # A job that failed this many times goes to the dead-letter stream.
    max_attempts: int = 3
    # Record how many times each unit was generated (for tests and `synthtiles eval`).
    record_generations: bool = False


class WorkerSettings(BaseSettings):
    model_config = _ENV

    device: str = "cpu"
    # Extra model registry searched before the models bundled with synthtiles.
    models_dir: Path | None = None
    batch_size: int = 8
    batch_wait_ms: int = 50
    # Units per model call. Every call is padded to exactly this many, each unit at a fixed
    # slot, so a tile never depends on its batch-mates (worker/batching.py). Default: 1 on
    # a CPU (batching gains little there), 8 on a GPU.
    device_batch_size: int | None = Field(None, ge=1, le=256)
    # How long a worker may hold a unit's generation lease without renewing it.
    lease_ttl_ms: int = 30_000
    # Heartbeat: worker liveness key TTL, lease and pending-entry renewal period.
    heartbeat_s: float = 5.0
    # Procedural generator only: artificial extra seconds per batch (used by tests).
    procedural_delay_s: float = 0.0
    metrics_port: int | None = None
