"""One Redis pub/sub listener per API process that wakes every request waiting on a unit,
and keeps those units marked as wanted (one refresh per unit, however many requests wait),
so workers know which queued jobs someone still waits for."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator

import redis.asyncio as aioredis

from core.protocol import parse_done_message

log = logging.getLogger("synthtiles.completion")


class UnitOutcome:
    __slots__ = ("error", "ok")

    def __init__(self, ok: bool, error: str | None) -> None:
        self.ok = ok
        self.error = error


# How often the units waited for here are marked wanted again (well inside WANT_TTL_S).
WANT_REFRESH_S = 1.0


class CompletionHub:
    def __init__(
        self,
        client: aioredis.Redis,
        channel: str,
        want: Callable[[Iterable[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._redis = client
        self._channel = channel
        self._want = want
        self._waiters: dict[str, set[asyncio.Future[UnitOutcome]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._listen(), name="completion-hub"))
        if self._want is not None:
            self._tasks.append(asyncio.create_task(self._keep_wanted(), name="wanted-refresh"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_wanted(self) -> None:
        assert self._want is not None
        while True:
            await asyncio.sleep(WANT_REFRESH_S)
            if self._waiters:
                try:
                    await self._want(list(self._waiters))
                # Redis away: a job may then be dropped; its waiter gets a 503 and the
                # client's retry queues the tile again.
                except Exception as exc:
                    log.warning("could not mark waited-for units: %s", exc)

    @contextlib.contextmanager
    def waiter(self, unit_id: str) -> Iterator[asyncio.Future[UnitOutcome]]:
        """Register interest *before* checking or enqueuing, so no notification is missed."""
        future: asyncio.Future[UnitOutcome] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(unit_id, set()).add(future)
        try:
            yield future
        finally:
            waiters = self._waiters.get(unit_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiters[unit_id]

    def _dispatch(self, data: bytes | str) -> None:
        try:
            unit_id, ok, error = parse_done_message(data)
        except (ValueError, KeyError):
            log.warning("ignoring malformed completion message %r", data)
            return
        for future in self._waiters.get(unit_id, ()):
            if not future.done():
                future.set_result(UnitOutcome(ok, error))

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self.subscribed.set()
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted or unreachable: waiters fall back to polling
                self.subscribed.clear()
                log.warning("completion listener lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
