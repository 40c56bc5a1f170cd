"""A pipelined Redis connection for the hot path's reads.

redis-py's asyncio pool sends one command per connection at a time; under load each cached
tile then waits for a free connection and pays a full round trip. Here every request's
HMGET is written at once on one connection per process and the replies, which Redis sends
in order, are matched to their requests (hiredis parses them). Only reads go this way;
anything that fails here falls back to the normal path.
"""

from __future__ import annotations

import asyncio
from collections import deque

import hiredis
from redis.connection import UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError


def _command(*parts: bytes | str) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class PipelinedRedis:
    def __init__(self, url: str) -> None:
        options = parse_url(url)
        connection_class = options.get("connection_class")
        if connection_class not in (None, UnixDomainSocketConnection):
            raise ValueError("the pipelined hot path speaks plain TCP or a Unix socket, not TLS")
        self._path: str | None = options.get("path")
        self._host = options.get("host", "localhost")
        self._port = int(options.get("port", 6379))
        self._setup: list[bytes] = []
        if options.get("password"):
            user = options.get("username")
            auth = ("AUTH", user, options["password"]) if user else ("AUTH", options["password"])
            self._setup.append(_command(*auth))
        if options.get("db"):
            self._setup.append(_command("SELECT", str(options["db"])))
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[asyncio.Future] = deque()
        self._connecting: asyncio.Lock | None = None
        self._reader_task: asyncio.Task | None = None

    async def _connect(self) -> asyncio.StreamWriter:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            if self._path:
                reader, writer = await asyncio.open_unix_connection(self._path)
            else:
                reader, writer = await asyncio.open_connection(self._host, self._port)
            self._reader_task = asyncio.create_task(self._read_replies(reader, writer))
            loop = asyncio.get_running_loop()
            checks = []
            for setup in self._setup:  # AUTH / SELECT, answered before anything else
                future = loop.create_future()
                self._pending.append(future)
                checks.append(future)
                writer.write(setup)
            try:
                await asyncio.gather(*checks)
            except Exception:
                writer.close()
                raise
            self._writer = writer
            return writer

    async def _read_replies(self, reader: asyncio.StreamReader, writer) -> None:
        parser = hiredis.Reader()
        error: Exception = RedisConnectionError("connection to Redis closed")
        try:
            while data := await reader.read(1 << 18):
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future = self._pending.popleft()
                    if future.done():
                        continue
                    if isinstance(reply, hiredis.ReplyError):
                        future.set_exception(ResponseError(str(reply)))
                    else:
                        future.set_result(reply)
        except Exception as exc:  # a broken connection: every waiting request falls back
            error = RedisConnectionError(str(exc))
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            while self._pending:
                future = self._pending.popleft()
                if not future.done():
                    future.set_exception(error)

    async def hmget(self, key: str, *fields: str) -> list[bytes | None]:
        writer = self._writer
        if writer is None or writer.is_closing():
            writer = await self._connect()
        future = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        writer.write(_command("HMGET", key, *fields))
        return await future

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
