"""Submitting generation jobs from the API, one per unit however many requests ask.

An asyncio face on core.protocol.QueueProtocol, the one implementation of the queue.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio as aioredis

from app import metrics
from core.protocol import WANT_TTL_S, Keys, Priority, QueueProtocol, parse_stats
from core.units import UnitKey


class JobQueue:
    def __init__(self, client: aioredis.Redis, keys: Keys, job_ttl_s: int) -> None:
        self._protocol = QueueProtocol(client, keys, job_ttl_s)

    async def ensure_groups(self) -> None:
        await self._protocol.ensure_groups()

    async def submit(
        self,
        unit: UnitKey,
        priority: Priority = Priority.INTERACTIVE,
        wanted_for_s: int = WANT_TTL_S,
    ) -> bool:
        """Mark the unit wanted and queue it; True when this call queued a job (see
        core.protocol.SUBMIT_LUA)."""
        return bool(await self._protocol.submit(unit, priority, wanted_for_s))

    async def want(self, units: Iterable[UnitKey | str], ttl_s: int = WANT_TTL_S) -> None:
        """Mark units as waited for, so a worker never drops their jobs as abandoned."""
        await self._protocol.want(units, ttl_s)

    async def sweep_unwanted(self) -> int:
        """Delete queued interactive jobs nobody waits for any more; how many were."""
        swept = int(await self._protocol.sweep_unwanted())
        metrics.JOBS_SWEPT.inc(swept)
        return swept

    async def stats(self) -> tuple[dict[str, int], dict[str, int]]:
        """(waiting, in progress) per priority."""
        return parse_stats(await self._protocol.stats())
