"""Fair use: what a cold request (one that would queue generation) must pass first.

- A bound on the interactive queue (SYNTHTILES_MAX_QUEUED_JOBS): beyond it a request that
  would add a job gets 503 + Retry-After at once, instead of waiting behind thousands;
  but first the queue makes room by deleting jobs nobody waits for any more.
- A per-client budget of cold requests in any 60 s (SYNTHTILES_COLD_RATE_PER_MINUTE, a sliding
  window): 429 + Retry-After beyond it, so one client scanning z16 cannot starve the others.
  The client is its API key when it sends a valid one, else its address.

Cached and stored tiles never pass through here: they are never refused.
"""

from __future__ import annotations

import math
import uuid

import redis.asyncio as aioredis

from app import metrics
from app.queue import JobQueue
from core.protocol import Keys, Priority
from core.units import UnitKey

_RATE_WINDOW_MS = 60_000

# A sliding log of the cold requests a client was admitted in the last minute, in one atomic
# step (so two API processes never both admit the last slot). A fixed per-minute counter
# would let a client burst twice its budget across a minute boundary; refused requests are not
# logged, so a client that keeps knocking is admitted again once its oldest request is a minute
# old. Returns 0 when admitted, else the milliseconds until a slot frees.
_SLIDING_LOG = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now_ms)
"""


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
        self._admit_rate = client.register_script(_SLIDING_LOG)

    async def admit(self, client_id: str | None, unit: UnitKey) -> None:
        """Raise Refused when this cold request may not queue work now."""
        if self.cold_rate_per_minute and client_id:
            key = f"{self._keys.prefix}:rate:{client_id}"
            wait_ms = await self._admit_rate(
                keys=[key], args=[self.cold_rate_per_minute, _RATE_WINDOW_MS, uuid.uuid4().hex]
            )
            if wait_ms:
                metrics.REFUSALS.labels("rate_limited").inc()
                wait = max(1, math.ceil(int(wait_ms) / 1000))
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
