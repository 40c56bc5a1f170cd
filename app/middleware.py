"""Request metrics as plain ASGI middleware (BaseHTTPMiddleware would cost the hot path)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            # Label by route template, never by raw path: bounded label cardinality.
            template = getattr(route, "path", None) or "unmatched"
            metrics.HTTP_REQUESTS.labels(template, scope["method"], str(status)).inc()
            metrics.HTTP_SECONDS.labels(template).observe(time.perf_counter() - started)
