"""Client errors as JSON bodies that say what was wrong and what is allowed."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


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

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(part) for part in error["loc"]), "problem": error["msg"]}
            for error in exc.errors()
        ]
        return error_response(400, "invalid request", problems=problems)
