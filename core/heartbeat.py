"""A worker's heartbeat and its hang watchdog, apart from what the worker does.

The heartbeat keeps what a worker holds fresh in Redis (liveness key, leases, stream
entries, a job's progress) so that only a worker that really died loses them. Alive is not
enough: the watchdog notices a step (a generation) running past its timeout, which Python
cannot interrupt (a wedged kernel or device), so the heartbeat hands over to the owner's
``on_hung``, which gives the work up and ends the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis


class Watchdog:
    """Times the step running now (``watching``); ``overdue`` once it passes ``timeout_s``."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._started: float | None = None  # time.monotonic() when the running step began

    @contextmanager
    def watching(self) -> Iterator[None]:
        self._started = time.monotonic()
        try:
            yield
        finally:
            self._started = None

    def overdue(self) -> bool:
        started = self._started
        return started is not None and time.monotonic() - started > self.timeout_s


class Heartbeat:
    """Calls ``beat`` every ``interval_s`` on a daemon thread until ``stop``. A beat that
    fails on Redis is logged (``failure``) and tried again next time: Redis may come back.
    With a ``watchdog``, an overdue step makes it call ``on_hung`` instead, and stop."""

    def __init__(
        self,
        interval_s: float,
        beat: Callable[[], None],
        log: logging.Logger,
        *,
        name: str = "heartbeat",
        failure: str = "heartbeat failed: %s",
        watchdog: Watchdog | None = None,
        on_hung: Callable[[], None] | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.beat = beat
        self.log = log
        self.failure = failure
        self.watchdog = watchdog
        self.on_hung = on_hung
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval_s):
            if self.watchdog is not None and self.watchdog.overdue():
                if self.on_hung is not None:
                    self.on_hung()
                return
            try:
                self.beat()
            except redis.RedisError as exc:
                self.log.warning(self.failure, exc)
