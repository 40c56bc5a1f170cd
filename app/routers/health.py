"""Liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app import metrics
from app.auth import require_key
from app.errors import ApiError
from app.services import services

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Redis reachable, a worker alive, the default model loaded")
async def readyz(request: Request) -> JSONResponse:
    state = services(request)
    checks: dict[str, object] = {"redis": False, "workers": 0, "model_loaded": False}
    try:
        await state.redis.ping()
        checks["redis"] = True
        model = state.catalog.default.model
        async for key in state.redis.scan_iter(match=state.keys.worker_pattern, count=100):
            raw = await state.redis.get(key)
            if raw is None:
                continue
            checks["workers"] = int(checks["workers"]) + 1
            if model in json.loads(raw).get("models", []):
                checks["model_loaded"] = True
    except Exception as exc:  # report, don't crash: readiness is a question, not an operation
        checks["error"] = f"{type(exc).__name__}: {exc}"
    ready = bool(checks["redis"]) and bool(checks["model_loaded"])
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (needs a key when keys are set)",
    dependencies=[Depends(require_key)],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def prometheus_metrics(request: Request) -> Response:
    if services(request).metrics_port:
        raise ApiError(404, "metrics are served on their own port (SYNTHTILES_METRICS_PORT)")
    try:
        waiting, in_progress = await services(request).queue.stats()
    except Exception:  # metrics must still render when Redis is down
        waiting, in_progress = {}, {}
    return Response(
        metrics.render(waiting, in_progress), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
