"""Pre-generating areas through the deployment's own queue (`synthtiles seed`, CLI exports).

Talks to the same Redis and tile store as the API and workers. Jobs go in at seeding
priority (workers always serve interactive requests first), a bounded window at a time, and
what already exists is skipped, so a cut-off run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import redis
import redis.asyncio as aioredis

from app.completion import CompletionHub, GenerationTimeout, UnitDone, WaitCancelled, wait_for_units
from core.bbox import AreaError, BBox, tiles_in
from core.config import Config
from core.protocol import Keys, Priority, QueueProtocol
from core.store import TileStore
from core.units import UnitKey, unit_complete, unit_of_tile
from core.world import World, WorldCatalog

SERVE_INFO = ".synthtiles-serve.json"


# One error for every request the CLI and API cannot carry out, bbox problems included, so
# callers catch one name (`except SeedError`) whichever step refused.
SeedError = AreaError


def parse_zooms(text: str, world: World) -> list[int]:
    """'12' or '10-14', within the world's zoom range."""
    try:
        low, _, high = text.partition("-")
        zooms = list(range(int(low), int(high or low) + 1))
    except ValueError:
        raise SeedError(f"zoom must be N or N-M, got {text!r}") from None
    if not zooms or zooms[0] < world.min_zoom or zooms[-1] > world.max_zoom:
        raise SeedError(
            f"zoom {text} is outside world {world.id!r}'s range {world.min_zoom}-{world.max_zoom}"
        )
    return zooms


@dataclass
class Deployment:
    """A running deployment's Redis, store and worlds, as the CLI sees them."""

    redis: redis.Redis
    store: TileStore
    catalog: WorldCatalog
    protocol: QueueProtocol
    redis_url: str = ""  # the waits' own asyncio connection (see generate)

    @property
    def keys(self) -> Keys:
        return self.protocol.keys

    @classmethod
    def connect(cls, config: Config) -> Deployment:
        url = config.redis.redis_url or _url_from_serve_info(config.store.store_root)
        if not url:
            raise SeedError(
                "no deployment to talk to: start `synthtiles serve` with the same "
                "SYNTHTILES_STORE_ROOT, or set SYNTHTILES_REDIS_URL"
            )
        client = config.redis_client(url)
        return cls(
            client,
            config.tile_store,
            config.catalog,
            QueueProtocol(client, config.keys, config.queue.job_ttl_s),
            url,
        )

    def world(self, world_id: str | None) -> World:
        world = self.catalog.get(world_id or self.catalog.default_id)
        if world is None:
            raise SeedError(f"unknown world {world_id!r}; known: {', '.join(self.catalog.ids())}")
        return world

    def unit_exists(self, world: World, unit: UnitKey) -> bool:
        return unit_complete(self.store, world, unit)

    def submit(self, unit: UnitKey, priority: Priority) -> None:
        self.protocol.submit(unit, priority)  # marked wanted: this command waits for it

    def generate(
        self,
        world: World,
        units: Iterable[UnitKey],
        priority: Priority = Priority.SEEDING,
        window: int = 64,
        on_done: Callable[[UnitKey, bool], None] | None = None,
        timeout_s: float = 3600,
        cancelled: Callable[[], bool] | None = None,
    ) -> tuple[int, int, list[str]]:
        """Queue ``units`` (a window at a time) and wait for all; (made, skipped, failures).
        ``cancelled`` is asked between steps: True stops it (SeedError). The wait is the
        API's (app/completion.py), on an event loop of its own."""
        return asyncio.run(
            self._generate(world, units, priority, window, on_done, timeout_s, cancelled)
        )

    async def _generate(
        self,
        world: World,
        units: Iterable[UnitKey],
        priority: Priority,
        window: int,
        on_done: Callable[[UnitKey, bool], None] | None,
        timeout_s: float,
        cancelled: Callable[[], bool] | None,
    ) -> tuple[int, int, list[str]]:
        units = list(dict.fromkeys(units))
        made = skipped = 0
        failures: list[str] = []
        waiting: set[UnitKey] = set()  # queued by this call and not finished yet

        def done(outcome: UnitDone) -> None:
            nonlocal made, skipped
            waiting.discard(outcome.unit)
            if outcome.existed:
                skipped += 1
            elif outcome.error is None:
                made += 1
            else:
                failures.append(f"{outcome.unit}: {outcome.error}")
            if on_done:
                on_done(outcome.unit, outcome.error is None)

        async def submit(unit: UnitKey) -> None:
            waiting.add(unit)
            await protocol.submit(unit, priority)  # marked wanted: this command waits for it

        client = aioredis.from_url(self.redis_url)
        protocol = QueueProtocol(client, self.keys, self.protocol.job_ttl_s)
        hub = CompletionHub(client, self.keys.done_channel, want=protocol.want)
        try:
            await client.ping()  # Redis away: fail now, as a subscribe would
            await hub.start()
            # A completion before the subscription holds is found by the poll.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.subscribed.wait(), 5)
            await wait_for_units(
                hub,
                units,
                lambda unit: asyncio.to_thread(self.unit_exists, world, unit),
                submit,
                time.monotonic() + timeout_s,
                done,
                window,
                poll_s=2.0,  # a missed message costs 2 s at most
                cancelled=cancelled,
            )
        except WaitCancelled:
            left = len(units) - made - skipped - len(failures)
            raise SeedError(f"cancelled with {left} units to go") from None
        except GenerationTimeout:
            raise SeedError(
                f"timed out after {timeout_s:.0f} s with {len(waiting)} units "
                "still generating; run the command again to resume"
            ) from None
        finally:
            await hub.stop()
            await client.aclose()
        return made, skipped, failures


def _url_from_serve_info(store_root: Path) -> str | None:
    info = store_root / SERVE_INFO
    if info.is_file():
        return json.loads(info.read_text()).get("redis_url")
    return None


def write_serve_info(store_root: Path, redis_url: str) -> Path:
    """Let CLI commands find the private Redis of a running `synthtiles serve`."""
    store_root.mkdir(parents=True, exist_ok=True)
    path = store_root / SERVE_INFO
    path.write_text(json.dumps({"redis_url": redis_url, "pid": os.getpid()}))
    return path


def units_for(world: World, bbox: BBox, zooms: list[int]) -> list[UnitKey]:
    """Every unit covering the bbox, coarsest zoom first (parents before children)."""
    units: dict[UnitKey, None] = {}
    for zoom in zooms:
        for x, y in tiles_in(world, bbox, zoom):
            units[unit_of_tile(world, zoom, x, y)] = None
    return list(units)
