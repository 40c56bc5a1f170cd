"""Making units: conditioning -> generator -> tiles in the durable store. No Redis here.

The worker adds the distributed parts (leases, cache, notifications) around this; the
evaluation commands use it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from core.png import decode_tile, encode_tile
from core.store import TileStore, world_record
from core.units import UnitKey, unit_complete, unit_tiles
from core.world import World
from worker.synthesis.engine import build_request, finish_canvas, plan
from worker.synthesis.generators.base import Generator

StoredTile = tuple[int, int, int, bytes]  # z, x, y, png


class UnitProducer:
    def __init__(self, store: TileStore, generator_for: Callable[[World], Generator]) -> None:
        self.store = store
        self.generator_for = generator_for
        self._recorded: set[str] = set()

    def unit_exists(self, world: World, unit: UnitKey) -> bool:
        return unit_complete(self.store, world, unit)

    def plan(self, world: World, targets: Iterable[UnitKey]) -> list[list[UnitKey]]:
        return plan(world, targets, lambda unit: self.unit_exists(world, unit))

    def read_tile(self, world: World) -> Callable[[int, int, int], np.ndarray]:
        def read(z: int, x: int, y: int) -> np.ndarray:
            data = self.store.get(world.id, z, x, y)
            if data is None:
                raise RuntimeError(
                    f"dependency tile {world.id}/{z}/{x}/{y} is missing from the store"
                )
            return decode_tile(data)

        return read

    def generate(self, world: World, units: list[UnitKey]) -> dict[UnitKey, list[StoredTile]]:
        """Generate ``units`` (their dependencies must exist) and store their tiles."""
        generator = self.generator_for(world)
        read_tile = self.read_tile(world)
        # (A generator plug-in written before parent_margin existed gets the old "edge".)
        margin = getattr(generator, "parent_margin", "edge")
        requests = [build_request(world, unit, read_tile, margin) for unit in units]
        canvases = generator.generate(requests)
        if len(canvases) != len(requests):
            raise RuntimeError(
                f"generator returned {len(canvases)} canvases for {len(requests)} units"
            )
        feather = generator.feather_borders
        return {
            request.unit: self.store_unit(
                world, generator.model_id, request.unit, finish_canvas(request, canvas, feather)
            )
            for request, canvas in zip(requests, canvases, strict=True)
        }

    def _record(self, world: World) -> None:
        """Before a world's first tile: keep its definition beside its tiles, so a later
        change to it (e.g. its scenario file) is refused (``check_world_records``)."""
        if world.id in self._recorded:
            return
        if self.store.read_record(world.id) is None:
            self.store.write_record(world.id, world_record(world))
        self._recorded.add(world.id)

    def store_unit(
        self, world: World, model_id: str, unit: UnitKey, pixels: np.ndarray
    ) -> list[StoredTile]:
        self._record(world)
        size, m = world.tile_size, world.unit_size
        stored = []
        for x, y in unit_tiles(world, unit):
            ox, oy = (x - unit.ux * m) * size, (y - unit.uy * m) * size
            png = encode_tile(pixels[oy : oy + size, ox : ox + size], world, model_id, unit.z, x, y)
            if not self.store.put_if_absent(world.id, unit.z, x, y, png):
                png = self.store.get(world.id, unit.z, x, y) or png  # the stored tile is the truth
            stored.append((unit.z, x, y, png))
        return stored

    def produce(
        self,
        world: World,
        targets: Iterable[UnitKey],
        batch_size: int = 8,
        make: Callable[[list[UnitKey]], list[UnitKey]] | None = None,
        prune: Callable[[list[UnitKey]], list[UnitKey]] | None = None,
    ) -> list[UnitKey]:
        """Generate ``targets`` and every missing dependency, wave by wave, ``batch_size``
        units at a time; returns the units made here. The one produce loop, used by the
        worker and the evaluations alike.

        ``make`` makes one chunk and returns what it made (default: generate the missing
        units here; the worker adds leases, the cache and notifications). ``prune``, after
        each wave, returns the targets still worth making (the worker drops jobs nobody
        waits for any more); the rest is planned again without the others."""
        targets = list(targets)
        make = make or (lambda chunk: self._make_missing(world, chunk))
        made: list[UnitKey] = []
        waves = self.plan(world, targets)
        while waves:
            wave = waves.pop(0)
            for start in range(0, len(wave), batch_size):
                made += make(wave[start : start + batch_size])
            if prune is not None and waves:
                kept = prune(targets)
                if len(kept) < len(targets):
                    targets = kept
                    waves = self.plan(world, targets) if targets else []
        return made

    def _make_missing(self, world: World, chunk: list[UnitKey]) -> list[UnitKey]:
        missing = [unit for unit in chunk if not self.unit_exists(world, unit)]
        if missing:
            self.generate(world, missing)
        return missing
