"""The composition root: every settings object of a process, read once and checked together,
and the one place that builds the shared objects (store, Redis clients, world catalog, key
names) from them.

The API, the worker, `serve`, seeding, export and the evaluation commands all start from
``Config.from_env()``; objects above the core (the API's job queue, the worker) are built
from a Config by their own packages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import redis
import redis.asyncio as aioredis

from core import plans
from core.protocol import Keys
from core.settings import (
    ApiSettings,
    MetricsSettings,
    QueueSettings,
    RedisSettings,
    StoreSettings,
    WorkerSettings,
    WorldSettings,
)
from core.store import TileStore, open_store
from core.world import WorldCatalog

# The API's Redis pool: requests wait (bounded) for a free connection rather than failing.
API_POOL_CONNECTIONS = 256
API_POOL_WAIT_S = 5


class ConfigError(ValueError):
    """Settings that are each valid but do not work together."""


@dataclass(frozen=True)
class Config:
    redis: RedisSettings = field(default_factory=RedisSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    worlds: WorldSettings = field(default_factory=WorldSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        """Settings from SYNTHTILES_* variables; ``overrides`` replace whole objects (tests)."""
        config = cls(**overrides)  # type: ignore[arg-type]
        config.check()
        plans.use_cache_dir(config.store.plan_dir)
        if (config.store.store_url or "").startswith("s3://"):
            plans.use_shared_store(config.tile_store)  # plan chunks shared between machines
        return config

    def check(self) -> None:
        """Cross-setting rules: a heartbeat must renew a lease and a pending entry well
        before they expire, or live workers would lose their jobs."""
        beat_ms = self.worker.heartbeat_s * 1000
        if beat_ms * 2 > self.worker.lease_ttl_ms:
            raise ConfigError(
                f"SYNTHTILES_HEARTBEAT_S ({self.worker.heartbeat_s}) must be at most half of "
                f"SYNTHTILES_LEASE_TTL_MS ({self.worker.lease_ttl_ms} ms)"
            )
        if beat_ms * 2 > self.queue.claim_idle_ms:
            raise ConfigError(
                f"SYNTHTILES_HEARTBEAT_S ({self.worker.heartbeat_s}) must be at most half of "
                f"SYNTHTILES_CLAIM_IDLE_MS ({self.queue.claim_idle_ms} ms)"
            )
        if self.api.export_direct_max_pixels > self.api.export_max_pixels:
            raise ConfigError(
                "SYNTHTILES_EXPORT_DIRECT_MAX_PIXELS must not exceed SYNTHTILES_EXPORT_MAX_PIXELS"
            )

    # ------------------------------------------------------------------ built objects

    @cached_property
    def catalog(self) -> WorldCatalog:
        return WorldCatalog.load(self.worlds.worlds_file, self.worlds.default_world)

    @cached_property
    def tile_store(self) -> TileStore:
        return open_store(self.store)

    @cached_property
    def keys(self) -> Keys:
        return Keys(self.redis.redis_prefix)

    @property
    def redis_url(self) -> str:
        if not self.redis.redis_url:
            raise ConfigError(
                "SYNTHTILES_REDIS_URL is not set; use `synthtiles serve`, which starts a "
                "private Redis, or point it at a running one (redis://127.0.0.1:6379/0)"
            )
        return self.redis.redis_url

    def redis_client(self, url: str | None = None) -> redis.Redis:
        """A blocking client (workers, seeding, CLI); ``url`` overrides the setting."""
        return redis.from_url(url or self.redis_url)

    def async_redis_client(self) -> aioredis.Redis:
        """The API's client: a bounded pool whose requests wait for a connection."""
        return aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                self.redis_url, max_connections=API_POOL_CONNECTIONS, timeout=API_POOL_WAIT_S
            )
        )
