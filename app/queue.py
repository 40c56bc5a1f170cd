"""Submitting generation jobs, one per unit however many requests ask (async, for the API)."""

from __future__ import annotations

import redis.asyncio as aioredis

from worker.protocol import CONSUMER_GROUP, Keys, Priority, job_fields
from worker.units import UnitKey


class JobQueue:
    def __init__(self, client: aioredis.Redis, keys: Keys, job_ttl_s: int) -> None:
        self._redis = client
        self._keys = keys
        self._job_ttl_s = job_ttl_s

    async def ensure_groups(self) -> None:
        for priority in Priority:
            try:
                await self._redis.xgroup_create(
                    self._keys.stream(priority), CONSUMER_GROUP, id="0", mkstream=True
                )
            except aioredis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def submit(self, unit: UnitKey, priority: Priority = Priority.INTERACTIVE) -> bool:
        """Queue a job for ``unit`` unless one is queued already; True when this call queued it.

        An interactive request for a unit already queued for seeding queues it again at
        interactive priority (the worker skips whichever copy comes second).
        """
        marker = self._keys.job(unit)
        if await self._redis.set(marker, priority.value, nx=True, ex=self._job_ttl_s):
            await self._redis.xadd(self._keys.stream(priority), job_fields(unit))
            return True
        if priority is Priority.INTERACTIVE:
            previous = await self._redis.set(
                marker, priority.value, xx=True, get=True, keepttl=True
            )
            if previous in (Priority.SEEDING.value, Priority.SEEDING.value.encode()):
                await self._redis.xadd(self._keys.stream(priority), job_fields(unit))
                return True
        return False

    async def stats(self) -> tuple[dict[str, int], dict[str, int]]:
        """(waiting, in progress) per priority. Finished jobs are deleted, so XLEN = unfinished."""
        waiting: dict[str, int] = {}
        in_progress: dict[str, int] = {}
        for priority in Priority:
            stream = self._keys.stream(priority)
            length = await self._redis.xlen(stream)
            taken = 0
            if length:
                try:
                    taken = (await self._redis.xpending(stream, CONSUMER_GROUP))["pending"]
                except aioredis.ResponseError:  # no group yet: nothing taken
                    taken = 0
            waiting[priority.value] = max(0, length - taken)
            in_progress[priority.value] = taken
        return waiting, in_progress
