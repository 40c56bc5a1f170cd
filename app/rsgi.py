"""The API under granian's RSGI interface: cached tiles sent by the server in one call.

granian (a Rust HTTP server) calls ``RsgiFront.__rsgi__`` for every request. A cached tile
(memory LRU, else Redis: ``app.fastpath.CachedTiles``, the same decision the ASGI hot path
makes) is handed to the server with ``response_bytes``: the bytes go from the cache to the
socket without ASGI messages, and without an asyncio protocol moving them through Python.
A tile of a local file store whose file carries its ETag (checked after the memory LRU,
before Redis) is read from its file and handed over the same way: granian's own
``response_file`` reads through tokio's blocking thread pool, slower than the read here
(app.fastpath).
Everything else goes to the FastAPI app through a small RSGI -> ASGI bridge (``_Exchange``),
with the ASGI lifespan run in each worker process's init hook, and uvicorn's proxy-headers
handling (``FORWARDED_ALLOW_IPS``) kept, so fair use sees clients behind a trusted proxy as
before.

``synthtiles serve`` runs this by default (``--server uvicorn`` runs the ASGI app instead).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from typing import Any

from granian.asgi import LifespanProtocol
from granian.rsgi import HTTPProtocol, ProtocolClosed, Scope
from starlette.types import ASGIApp, Message
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.fastpath import CachedTiles, text_headers
from app.process_guard import exit_with_parent

log = logging.getLogger("synthtiles.api")

# uvicorn's default: a proxy on this host may say whom it forwards for.
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"
_ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}
_BODYLESS = frozenset(("GET", "HEAD", "OPTIONS", "DELETE"))


def _address(text: str) -> tuple[str, int] | None:
    """'host:port' or '[v6]:port' as ASGI's (host, port)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


class _Exchange:
    """One request handed from RSGI to the ASGI app: its receive and send callables."""

    __slots__ = (
        "_body",
        "_disconnected",
        "_headers",
        "_proto",
        "_read",
        "_status",
        "_stream",
        "done",
    )

    def __init__(self, proto: HTTPProtocol, has_body: bool) -> None:
        self._proto = proto
        self._body = proto.__aiter__() if has_body else None
        self._read = False  # the whole request body was handed over
        self._disconnected: asyncio.Future | None = None
        self._status = 500
        self._headers: list[tuple[str, str]] = []
        self._stream: Any = None
        self.done = False  # a response was handed to the server

    async def receive(self) -> Message:
        if not self._read:
            if self._body is None:
                self._read = True
                return {"type": "http.request", "body": b"", "more_body": False}
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._read = True
                return {"type": "http.request", "body": b"", "more_body": False}
            except ProtocolClosed:
                self._read = True
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": bytes(chunk), "more_body": True}
        if self._disconnected is None:
            self._disconnected = asyncio.ensure_future(self._proto.client_disconnect())
        # Shielded: Starlette polls for a disconnect by cancelling this call at once.
        await asyncio.shield(self._disconnected)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = text_headers(message.get("headers", []))
            return
        if kind != "http.response.body" or self.done:
            return
        body = message.get("body", b"")
        more = message.get("more_body", False)
        try:
            if self._stream is None and not more:
                self._proto.response_bytes(self._status, self._headers, body)
                self.done = True
                return
            if self._stream is None:
                self._stream = self._proto.response_stream(self._status, self._headers)
            if body:
                await self._stream.send_bytes(body)
            if not more:
                self.done = True
        except ProtocolClosed:
            self.done = True  # the client left mid-answer: nothing more to send

    def close(self) -> None:
        if self._disconnected is not None:
            self._disconnected.cancel()


class RsgiFront:
    """granian's RSGI application: hot-path hits answered here, the rest by ``app``."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.tiles = CachedTiles(state, files=True)
        trusted = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS)
        self.asgi = ProxyHeadersMiddleware(app, trusted_hosts=trusted)
        self.lifespan = LifespanProtocol(app)

    # granian calls these in each worker process, before serving and after.
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        exit_with_parent()  # a worker never outlives `serve`, even one killed outright
        level = os.environ.get("SYNTHTILES_LOG_LEVEL", "info").upper()
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        loop.run_until_complete(self.lifespan.startup())
        if self.lifespan.interrupt:
            log.error("application startup failed", exc_info=self.lifespan.exc)
            raise SystemExit(3)
        # What startup built (the app, its imports, the plan) lives as long as the process:
        # out of the collector's generations, so collections triggered by requests' small
        # allocations do not walk it.
        gc.collect()
        gc.freeze()
        log.info("Application startup complete.")  # as uvicorn says it

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.lifespan.shutdown())

    async def __rsgi__(self, scope: Scope, proto: HTTPProtocol) -> None:
        headers = scope.headers
        method = scope.method
        query = scope.query_string.encode("latin-1")

        def header(name: bytes) -> bytes | None:
            value = headers.get(name.decode())
            return value.encode("latin-1") if value is not None else None

        hit = await self.tiles.hit(method, scope.path, query, header)
        if hit is not None:
            proto.response_bytes(hit.status, hit.text_headers, hit.body)
            self.tiles.record(hit, method)
            return
        await self._asgi(scope, proto, query)

    async def _asgi(self, scope: Scope, proto: HTTPProtocol, query: bytes) -> None:
        raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in scope.headers.items()
        ]
        has_body = scope.method not in _BODYLESS or any(
            name in (b"content-length", b"transfer-encoding") for name, _ in raw_headers
        )
        asgi_scope = {
            "type": "http",
            "asgi": _ASGI_VERSION,
            "http_version": scope.http_version,
            "method": scope.method,
            "scheme": scope.scheme,
            "path": scope.path,
            "raw_path": scope.path.encode("latin-1", "replace"),
            "query_string": query,
            "root_path": "",
            "headers": raw_headers,
            "client": _address(scope.client),
            "server": _address(scope.server),
            "state": self.lifespan.state.copy(),
        }
        exchange = _Exchange(proto, has_body)
        try:
            await self.asgi(asgi_scope, exchange.receive, exchange.send)
        except Exception:
            log.exception("unhandled error answering %s %s", scope.method, scope.path)
            if not exchange.done:
                proto.response_bytes(500, [("content-type", "text/plain")], b"internal error")
                exchange.done = True
        finally:
            exchange.close()
        if not exchange.done:  # the app returned without answering
            proto.response_empty(500, [])


def create_front() -> RsgiFront:
    """granian's factory target (``app.rsgi:create_front``): the app from the environment."""
    from app.main import create_app

    app = create_app()
    return RsgiFront(app, app.state)
