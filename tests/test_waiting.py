"""The one wait loop (app/completion.py): a notification, the poll that covers a missed one,
failure, the deadline and a client that left; and many units a window at a time."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.completion import (
    ClientGone,
    CompletionHub,
    GenerationFailed,
    GenerationTimeout,
    UnitDone,
    WaitCancelled,
    wait_for_units,
)
from core.protocol import done_message
from core.units import UnitKey

UNIT = UnitKey("testland", 5, 1, 2)


def _hub() -> CompletionHub:
    return CompletionHub(client=None, channel="unused")  # type: ignore[arg-type]


async def test_a_notification_then_the_check_answers() -> None:
    hub = _hub()
    there: list[str] = []
    with hub.waiter(str(UNIT)) as waiter:

        async def check() -> str | None:
            return there[0] if there else None

        async def finish() -> None:
            await asyncio.sleep(0.05)
            there.append("tile")
            hub._dispatch(done_message(UNIT, ok=True))

        started = time.monotonic()
        asyncio.get_running_loop().create_task(finish())
        assert await waiter.until(time.monotonic() + 5, check) == "tile"
        assert time.monotonic() - started < 0.5  # woken, not polled


async def test_the_poll_finds_a_unit_whose_notification_was_missed() -> None:
    hub = _hub()
    calls = 0

    async def check() -> bool | None:
        nonlocal calls
        calls += 1
        return True if calls >= 2 else None

    with hub.waiter(str(UNIT)) as waiter:
        assert await waiter.until(time.monotonic() + 5, check, poll_s=0.02) is True


async def test_failure_deadline_and_a_client_gone() -> None:
    hub = _hub()

    async def never() -> None:
        return None

    with hub.waiter(str(UNIT)) as waiter:
        hub._dispatch(done_message(UNIT, ok=False, error="boom"))
        with pytest.raises(GenerationFailed, match="boom"):
            await waiter.until(time.monotonic() + 5, never)
    with hub.waiter(str(UNIT)) as waiter:
        with pytest.raises(GenerationTimeout):
            await waiter.until(time.monotonic() + 0.05, never, poll_s=0.01)

        async def gone() -> bool:
            return True

        with pytest.raises(ClientGone):
            await waiter.until(time.monotonic() + 5, never, gone, poll_s=0.01)


async def test_many_units_in_a_window_with_failures_and_cancellation() -> None:
    hub = _hub()
    units = [UnitKey("testland", 5, x, 0) for x in range(6)]
    made: set[UnitKey] = {units[0]}  # exists already
    submitted: list[UnitKey] = []
    outcomes: list[UnitDone] = []

    async def exists(unit: UnitKey) -> bool:
        return unit in made

    async def submit(unit: UnitKey) -> None:
        submitted.append(unit)
        if unit == units[3]:
            hub._dispatch(done_message(unit, False, "bad"))
        else:
            made.add(unit)

    await wait_for_units(hub, units, exists, submit, time.monotonic() + 5, outcomes.append, 2, 0.01)
    assert {o.unit for o in outcomes} == set(units) and units[0] not in submitted
    assert [o.unit for o in outcomes if o.existed] == [units[0]]
    assert [(o.unit, o.error) for o in outcomes if o.error] == [(units[3], "bad")]

    async def never(_unit: UnitKey) -> bool:
        return False

    async def ignore(_unit: UnitKey) -> None:
        return None

    with pytest.raises(WaitCancelled):
        await wait_for_units(
            hub, units, never, ignore, time.monotonic() + 5, outcomes.append, cancelled=lambda: True
        )
    with pytest.raises(GenerationTimeout):
        await wait_for_units(hub, units, never, ignore, time.monotonic() + 0.1, outcomes.append)
