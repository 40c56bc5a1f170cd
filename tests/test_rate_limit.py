"""The per-client cold-request budget on a real Redis: a sliding 60 s window."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
import redis.asyncio as aioredis

from app.fair_use import FairUse, Refused
from app.queue import JobQueue
from core.protocol import Keys
from core.units import UnitKey
from tests.stack import redis_url

UNIT = UnitKey("testland", 9, 3, 4)


def _age_log(prefix: str, client_id: str, seconds: float) -> None:
    """Move every admitted request of a client `seconds` into the past."""
    client = redis.from_url(redis_url())
    key = f"{prefix}:rate:{client_id}"
    for member, score in client.zrange(key, 0, -1, withscores=True):
        client.zadd(key, {member: score - seconds * 1000})


def _admit(prefix: str, client_id: str, budget: int) -> list[int | None]:
    """Ask `budget`+2 times; None for admitted, else the Retry-After given."""

    async def scenario() -> list[int | None]:
        client = aioredis.from_url(redis_url())
        keys = Keys(prefix)
        fair = FairUse(client, keys, JobQueue(client, keys, 60), 0, budget, 5)
        answers: list[int | None] = []
        try:
            for _ in range(budget + 2):
                try:
                    await fair.admit(client_id, UNIT)
                    answers.append(None)
                except Refused as refused:
                    assert refused.status == 429 and refused.reason == "rate_limited"
                    answers.append(refused.retry_after)
        finally:
            await client.aclose()
        return answers

    return asyncio.run(scenario())


@pytest.fixture
def prefix() -> str:
    return f"synthtiles-test-rate-{uuid.uuid4().hex[:8]}"


def test_a_client_gets_its_budget_then_429_until_its_oldest_request_is_a_minute_old(
    prefix: str,
) -> None:
    first = _admit(prefix, "k1", 3)
    assert first[:3] == [None] * 3
    assert all(wait is not None and 55 <= wait <= 60 for wait in first[3:])
    # Not a fixed per-minute counter: 50 s later (a minute boundary may well lie between)
    # the budget is still spent, and the wait says when the oldest slot frees.
    _age_log(prefix, "k1", 50)
    later = _admit(prefix, "k1", 3)
    assert all(wait is not None and 5 <= wait <= 11 for wait in later)
    # Refused requests were not logged: once the admitted ones are a minute old, it starts over.
    _age_log(prefix, "k1", 11)
    assert _admit(prefix, "k1", 3)[:3] == [None] * 3


def test_clients_have_their_own_budgets(prefix: str) -> None:
    assert _admit(prefix, "k1", 2)[:2] == [None, None]
    assert _admit(prefix, "k2", 2)[:2] == [None, None]
