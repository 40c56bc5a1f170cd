"""Generation units: the square blocks of tiles that one diffusion sample produces."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.world import World

if TYPE_CHECKING:
    from core.store import TileStore


@dataclass(frozen=True, order=True)
class UnitKey:
    world: str
    z: int
    ux: int
    uy: int

    def __str__(self) -> str:
        return f"{self.world}/{self.z}/{self.ux}/{self.uy}"

    @classmethod
    def parse(cls, text: str) -> UnitKey:
        world, z, ux, uy = text.split("/")
        return cls(world, int(z), int(ux), int(uy))

    @property
    def phase(self) -> int:
        """Parity colour: units of one phase never touch, so they never race (DESIGN §3)."""
        return (self.ux % 2) + 2 * (self.uy % 2)


def unit_of_tile(world: World, z: int, x: int, y: int) -> UnitKey:
    m = world.unit_size
    return UnitKey(world.id, z, x // m, y // m)


def units_per_side(world: World, z: int) -> int:
    """Units across the grid at zoom z (a unit wider than the world is clipped to it)."""
    return max(1, (2**z) // world.unit_size)


def unit_tiles(world: World, unit: UnitKey) -> list[tuple[int, int]]:
    """(x, y) of every tile of the unit that lies on the 2^z grid, row-major."""
    m = world.unit_size
    side = 2**unit.z
    return [
        (unit.ux * m + dx, unit.uy * m + dy)
        for dy in range(m)
        for dx in range(m)
        if unit.ux * m + dx < side and unit.uy * m + dy < side
    ]


def unit_seed(world: World, unit: UnitKey) -> int:
    """Per-unit noise seed: a hash of (world seed, z, ux, uy), never global RNG state."""
    digest = hashlib.blake2b(
        struct.pack("<Qiqq", world.seed, unit.z, unit.ux, unit.uy), digest_size=8
    ).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def unit_complete(store: TileStore, world: World, unit: UnitKey) -> bool:
    """Tiles are written in row-major order, so the last one marks a complete unit."""
    x, y = unit_tiles(world, unit)[-1]
    return store.exists(world.id, unit.z, x, y)
