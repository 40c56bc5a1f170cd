"""The objects one API process shares between requests, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import Request

from app.completion import CompletionHub
from app.queue import JobQueue
from app.settings import ApiSettings
from app.tile_service import TileService
from worker.protocol import Keys
from worker.settings import QueueSettings, RedisSettings
from worker.store import TileStore
from worker.world import WorldCatalog


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


def services(request: Request) -> Services:
    return request.app.state.services
