"""Waiting for units: one Redis pub/sub listener per process wakes every waiter of a unit,
and keeps those units marked as wanted (one refresh per unit, however many wait), so
workers know which queued jobs someone still waits for. ``UnitWaiter.until`` is the one wait
loop (a tile request, a direct export, `seed` and export jobs), ``wait_for_units`` the one
for many units a window at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis

from core.protocol import parse_done_message
from core.units import UnitKey

log = logging.getLogger("synthtiles.completion")

T = TypeVar("T")

# While waiting, look this often whether the unit is there, in case a notification was
# missed (e.g. the pub/sub connection dropped for a moment).
POLL_INTERVAL_S = 1.0
# Notified, but the tiles not visible yet (evicted at once, or a store slow to show writes).
_SETTLE_S = 0.05

# Tells whether the requesting client has disconnected (Starlette's request.is_disconnected).
Disconnected = Callable[[], Awaitable[bool]]


class GenerationTimeout(Exception):
    """The unit's job is still running after the wait limit."""


class GenerationFailed(Exception):
    """The unit's job failed for good and went to the dead-letter stream."""


class ClientGone(Exception):
    """The client hung up while waiting: stop waiting, so its unit is no longer wanted."""


class WaitCancelled(Exception):
    """The waiting command was cancelled (an export job cancelled, a worker stopping)."""


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
    def waiter(self, unit_id: str) -> Iterator[UnitWaiter]:
        """Register interest *before* checking or enqueuing, so no notification is missed."""
        future: asyncio.Future[UnitOutcome] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(unit_id, set()).add(future)
        try:
            yield UnitWaiter(unit_id, future)
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


class UnitWaiter:
    """One registered wait for a unit (from ``CompletionHub.waiter``)."""

    def __init__(self, unit_id: str, outcome: asyncio.Future[UnitOutcome]) -> None:
        self.unit_id = unit_id
        self._outcome = outcome

    async def until(
        self,
        deadline: float,
        check: Callable[[], Awaitable[T | None]],
        gone: Disconnected | None = None,
        poll_s: float = POLL_INTERVAL_S,
    ) -> T:
        """What ``check`` finds once the unit is there: asked on its notification and every
        ``poll_s`` as a safety net. Raises GenerationFailed when the unit failed for good,
        GenerationTimeout at ``deadline`` (time.monotonic()), ClientGone when ``gone``
        (asked at each poll) says the client left."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GenerationTimeout(self.unit_id)
            try:
                outcome = await asyncio.wait_for(
                    asyncio.shield(self._outcome), min(remaining, poll_s)
                )
            except TimeoutError:
                if gone is not None and await gone():
                    raise ClientGone(self.unit_id) from None
            else:
                if not outcome.ok:
                    raise GenerationFailed(outcome.error or "unknown error")
            found = await check()
            if found is not None:
                return found
            if self._outcome.done():
                await asyncio.sleep(_SETTLE_S)


@dataclass(frozen=True)
class UnitDone:
    unit: UnitKey
    existed: bool  # it was there already: nothing was queued
    error: str | None = None  # it failed for good (its job was dead-lettered)


async def wait_for_units(
    hub: CompletionHub,
    units: Iterable[UnitKey],
    exists: Callable[[UnitKey], Awaitable[bool]],
    submit: Callable[[UnitKey], Awaitable[object]],
    deadline: float,
    on_done: Callable[[UnitDone], None],
    window: int = 64,
    poll_s: float = POLL_INTERVAL_S,
    cancelled: Callable[[], bool] | None = None,
) -> None:
    """Queue each missing unit (``window`` at a time, in order) and wait for it; ``on_done``
    hears of each, failures included, and may raise to stop the rest. A poll that finds a
    unit missing submits it again (a no-op while its job is queued; it comes back after a
    Redis flush). Raises GenerationTimeout at ``deadline``, WaitCancelled when
    ``cancelled`` (asked every half second) turns true."""
    pending = deque(dict.fromkeys(units))

    async def present(unit: UnitKey) -> bool | None:
        if await exists(unit):
            return True
        await submit(unit)
        return None

    async def run() -> None:
        while pending:
            unit = pending.popleft()
            with hub.waiter(str(unit)) as waiter:
                if await exists(unit):
                    on_done(UnitDone(unit, existed=True))
                    continue
                await submit(unit)
                try:
                    await waiter.until(deadline, lambda u=unit: present(u), poll_s=poll_s)
                except GenerationFailed as exc:
                    on_done(UnitDone(unit, existed=False, error=str(exc)))
                else:
                    on_done(UnitDone(unit, existed=False))

    tasks = [asyncio.create_task(run()) for _ in range(max(1, min(window, len(pending))))]
    every = asyncio.gather(*tasks)
    try:
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(every), 0.5)
                return
            except TimeoutError:
                if cancelled is not None and cancelled():
                    raise WaitCancelled from None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
