"""Errors as JSON bodies that say what was wrong and what is allowed; every error, even an
unexpected one, is JSON with Cache-Control: no-store."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import metrics
from app.fair_use import Refused

log = logging.getLogger("synthtiles.api")
# Seconds a client is asked to wait while Redis (queue and cache) is unavailable.
REDIS_RETRY_AFTER_S = 10


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.details = details


def still_generating(what: str, retry_after: int) -> ApiError:
    """503 + Retry-After: the work goes on; asking again later gets the result."""
    return ApiError(
        503,
        f"{what} still being generated; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, **details: Any
) -> JSONResponse:
    # Errors must never be cached like tiles are (a 503 turns into a tile moments later).
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse({"error": message, "status": status, **details}, status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers, **exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(
                404,
                f"no such resource: {request.url.path}",
                hint="tiles are at /{z}/{x}/{y}.png or /worlds/{world}/{z}/{x}/{y}.png; "
                "see /tilejson.json and /worlds",
            )
        if exc.status_code == 405:
            return error_response(
                405,
                f"method {request.method} is not allowed on {request.url.path}",
                headers=getattr(exc, "headers", None),
            )
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Refused)
    async def _refused(_request: Request, exc: Refused) -> JSONResponse:
        return error_response(
            exc.status,
            exc.message,
            headers={"Retry-After": str(exc.retry_after)},
            reason=exc.reason,
            retry_after=exc.retry_after,
        )

    @app.exception_handler(RedisError)
    async def _redis_down(request: Request, exc: RedisError) -> JSONResponse:
        # Stored tiles are still served (the tile service reads the store without Redis);
        # what needs the queue or the cache waits for Redis to come back.
        log.warning("Redis unavailable for %s: %s", request.url.path, exc)
        metrics.REFUSALS.labels("redis_down").inc()
        return error_response(
            503,
            "the job queue (Redis) is unavailable; tiles already made are still served, "
            f"others can be asked for again in {REDIS_RETRY_AFTER_S} s",
            headers={"Retry-After": str(REDIS_RETRY_AFTER_S)},
            retry_after=REDIS_RETRY_AFTER_S,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the server log has the details")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(part) for part in error["loc"]), "problem": error["msg"]}
            for error in exc.errors()
        ]
        first = problems[0] if problems else {"where": "request", "problem": "malformed"}
        message = f"invalid request: {first['where']}: {first['problem']}"
        return error_response(400, message, problems=problems)
