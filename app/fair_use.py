"""Fair use: what a cold request (one that would queue generation) must pass first.

- A bound on the interactive queue (SYNTHTILES_MAX_QUEUED_JOBS): beyond it a request that
  would add a job gets 503 + Retry-After at once, instead of waiting behind thousands;
  but first the queue makes room by deleting jobs nobody waits for any more.
- A per-client budget of cold requests per minute (SYNTHTILES_COLD_RATE_PER_MINUTE): 429 +
  Retry-After beyond it, so one client scanning z16 cannot starve the others. The client is
  its API key when it sends a valid one, else its address.

Cached and stored tiles never pass through here: they are never refused.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from app import metrics
from app.queue import JobQueue
from core.protocol import Keys, Priority
from core.units import UnitKey


class Refused(Exception):
    def __init__(self, status: int, reason: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class FairUse:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        queue: JobQueue,
        max_queued_jobs: int,
        cold_rate_per_minute: int,
        retry_after_s: int,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._queue = queue
        self.max_queued_jobs = max_queued_jobs
        self.cold_rate_per_minute = cold_rate_per_minute
        self.retry_after_s = retry_after_s

    async def admit(self, client_id: str | None, unit: UnitKey) -> None:
        """Raise Refused when this cold request may not queue work now."""
        if self.cold_rate_per_minute and client_id:
            now = time.time()
            window = int(now // 60)
            key = f"{self._keys.prefix}:rate:{client_id}:{window}"
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
            if count > self.cold_rate_per_minute:
                metrics.REFUSALS.labels("rate_limited").inc()
                wait = max(1, int(60 - now % 60) + 1)
                raise Refused(
                    429,
                    "rate_limited",
                    f"more than {self.cold_rate_per_minute} tiles that need generating per "
                    f"minute from this client; cached tiles are still served, retry in {wait} s",
                    wait,
                )
        if self.max_queued_jobs:
            stream = self._keys.stream(Priority.INTERACTIVE)
            depth = await self._redis.xlen(stream)
            if depth >= self.max_queued_jobs and await self._queue.sweep_unwanted():
                depth = await self._redis.xlen(stream)
            if depth >= self.max_queued_jobs and not await self._redis.exists(self._keys.job(unit)):
                metrics.REFUSALS.labels("queue_full").inc()
                raise Refused(
                    503,
                    "queue_full",
                    f"the generation queue is full ({depth} jobs); cached tiles are still "
                    f"served, retry in {self.retry_after_s} s",
                    self.retry_after_s,
                )
