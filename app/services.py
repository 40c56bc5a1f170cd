"""The objects one API process shares between requests, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import Request

from app.completion import CompletionHub
from app.export_jobs import ExportJobs
from app.memory_cache import TileMemoryCache
from app.queue import JobQueue
from app.redis_pipe import PipelinedRedis
from app.tile_service import TileService
from core.protocol import Keys
from core.settings import ApiSettings, QueueSettings, RedisSettings
from core.store import TileStore
from core.world import WorldCatalog

EXPOSED_HEADERS = ["ETag", "X-Synthtiles-Source", "X-Synthtiles-Pending", "Retry-After"]
_EXPOSE = (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())


@dataclass
class Services:
    api: ApiSettings
    redis_settings: RedisSettings
    queue_settings: QueueSettings
    catalog: WorldCatalog
    store: TileStore
    redis: aioredis.Redis
    keys: Keys
    queue: JobQueue
    hub: CompletionHub
    tiles: TileService
    memory: TileMemoryCache
    export_jobs: ExportJobs
    # The hot path's pipelined reads (None: it uses `redis`, e.g. for a rediss:// URL).
    redis_pipe: PipelinedRedis | None = None
    # Set when `serve` exposes the metrics on their own port: /metrics then answers 404.
    metrics_port: int | None = None

    def cors_headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """CORS headers for a simple GET, as CORSMiddleware would send them."""
        if origin is None:
            return []
        allowed = self.api.cors_allow_origins
        if "*" in allowed:
            return [(b"access-control-allow-origin", b"*"), _EXPOSE]
        if origin.decode("latin-1") in allowed:
            return [(b"access-control-allow-origin", origin), (b"vary", b"Origin"), _EXPOSE]
        return []


def services(request: Request) -> Services:
    return request.app.state.services
