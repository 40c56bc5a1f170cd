"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from app.auth import ApiKeys
from app.completion import CompletionHub
from app.errors import install_error_handlers
from app.export_jobs import ExportJobs
from app.fair_use import FairUse
from app.fastpath import TileFastPath
from app.memory_cache import TileMemoryCache
from app.middleware import (
    BodyLimitMiddleware,
    RequestMetricsMiddleware,
    SecurityHeadersMiddleware,
)
from app.openapi import install as install_openapi
from app.queue import JobQueue
from app.redis_pipe import PipelinedRedis
from app.routers import (
    export,
    features,
    health,
    layout,
    ogc,
    terrain,
    tilejson,
    tiles,
    vector,
    viewer,
    wmts,
)
from app.routers.viewer import STATIC_DIR
from app.services import EXPOSED_HEADERS, Services
from app.tile_service import TileService
from core.config import Config
from core.plans import warm_plan
from core.store import check_world_records

log = logging.getLogger("synthtiles.api")


def _pipelined(url: str) -> PipelinedRedis | None:
    try:
        return PipelinedRedis(url)
    except ValueError:  # TLS: the hot path uses the pooled client
        return None


def create_app(config: Config | None = None) -> FastAPI:
    """The API; its settings and shared objects come from ``config`` (default: the
    environment, which is how uvicorn's factory and `serve`'s API processes call it)."""
    config = config or Config.from_env()
    api = config.api
    redis_url = config.redis_url  # fails here, with a clear message, when unset
    catalog = config.catalog
    store = config.tile_store
    check_world_records(store, catalog)  # a world changed after publishing: refuse to start
    keys = config.keys

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = config.async_redis_client()
        queue = JobQueue(client, keys, config.queue.job_ttl_s)
        await queue.ensure_groups()
        hub = CompletionHub(client, keys.done_channel, want=queue.want)
        await hub.start()
        # The default world's plan (built once, cached on disk) warms up beside serving:
        # a placeholder or features request before then waits for it. Other worlds' plans
        # are built when first asked for.
        threading.Thread(
            target=warm_plan,
            args=(catalog.default,),
            name="plan-warm-up",
            daemon=True,
        ).start()
        memory = TileMemoryCache(api.memory_cache_mb * 2**20)
        tile_service = TileService(
            client,
            store,
            keys,
            queue,
            hub,
            memory,
            config.redis.cache_ttl_s,
            api.tile_wait_timeout_s,
        )
        tile_service.retry_after_s = api.retry_after_s
        tile_service.verify_cached = api.verify_cached_tiles
        tile_service.fair_use = FairUse(
            client,
            keys,
            queue,
            api.max_queued_jobs,
            api.cold_rate_per_minute,
            api.retry_after_s,
        )
        app.state.services = Services(
            api=api,
            redis_settings=config.redis,
            queue_settings=config.queue,
            catalog=catalog,
            store=store,
            redis=client,
            keys=keys,
            queue=queue,
            hub=hub,
            tiles=tile_service,
            memory=memory,
            redis_pipe=_pipelined(redis_url),
            export_jobs=ExportJobs(client, keys),
            metrics_port=config.metrics.metrics_port,
        )
        try:
            yield
        finally:
            await hub.stop()
            if app.state.services.redis_pipe is not None:
                await app.state.services.redis_pipe.aclose()
            await client.aclose()

    app = FastAPI(
        title="synthtiles",
        summary="An endless synthetic satellite basemap, generated on demand.",
        version="0.1.0",
        lifespan=lifespan,
        # /docs is our own page with a vendored Swagger UI (routers/viewer.py): FastAPI's
        # loads it from a CDN, which the viewers' CSP (and an offline exercise) forbids.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_openapi(app)
    app.state.api_keys = ApiKeys.from_settings(api)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Order matters: the catch-all tile route comes last.
    for router in (
        health.router,
        tilejson.router,
        wmts.router,
        wmts.kvp_router,
        ogc.router,
        viewer.router,
        layout.router,
        features.router,
        terrain.router,
        vector.router,
        export.router,
        tiles.router,
    ):
        app.include_router(router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=api.cors_allow_origins,
        allow_methods=["GET", "HEAD"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
    )
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=api.max_request_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost: memory-cached tiles are answered before any other layer runs.
    app.add_middleware(TileFastPath, state=app.state)
    return app
