"""Settlements: where people settle, with fictional names (DESIGN §4).

Each tier has a site grid fixed on the plan grid (cities every 96 cells, towns every 32,
villages every 8). A site holds at most one settlement, at its most suitable cell: flat,
low, dry land near water (rivers, lakes, the coast). Sites are functions of their own cells,
so where a settlement goes does not depend on which part of the world was planned first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.noise import hash_uniform

TIERS = ("city", "town", "village")
SITE_CELLS = {"city": 96, "town": 32, "village": 8}
# Share of sites that get a settlement (when suitable at all) and the population range.
SITE_SHARE = {"city": 0.55, "town": 0.55, "village": 0.6}
POPULATION = {"city": (80_000, 600_000), "town": (8_000, 60_000), "village": (300, 3_000)}
# A lower tier keeps this far (in cells) from a higher one: a village is not in a town.
KEEP_AWAY = {"town": 12.0, "village": 4.0}

_ONSETS = (
    "b",
    "d",
    "g",
    "k",
    "l",
    "m",
    "n",
    "r",
    "s",
    "t",
    "v",
    "z",
    "ch",
    "sh",
    "mb",
    "nd",
    "ny",
    "ts",
)
_VOWELS = ("a", "a", "e", "i", "o", "u", "ia", "ua")
_ENDINGS = ("", "", "", "n", "ra", "na", "ville", "bo", "ko", "ga")


@dataclass(frozen=True)
class Settlement:
    x: float  # cell units
    y: float
    tier: str
    population: int
    name: str

    @property
    def radius_m(self) -> float:
        """Built-up radius: ~330 m for 500 people, ~2.1 km for 30k, ~7 km for 600k."""
        return 9.0 * self.population**0.5 + 130.0


def settlement_name(seed: int, key: int) -> str:
    h = [hash_uniform(np.array([key]), np.array([k]), seed + 9001)[0] for k in range(6)]
    syllables = 2 + int(h[0] * 2)
    parts = []
    for s in range(syllables):
        parts.append(_ONSETS[int(h[1 + s] * len(_ONSETS)) % len(_ONSETS)])
        parts.append(_VOWELS[int(h[1 + s] * 97) % len(_VOWELS)])
    parts.append(_ENDINGS[int(h[5] * len(_ENDINGS)) % len(_ENDINGS)])
    return "".join(parts).capitalize()


def suitability(
    height: np.ndarray, slope: np.ndarray, water_near: np.ndarray, land: np.ndarray
) -> np.ndarray:
    """0 where nobody settles (water, steep or high ground), up to ~1 on flat riverside land."""
    flat = np.clip(1.0 - slope / 0.06, 0.0, 1.0)
    low = np.clip(1.0 - height / 1400.0, 0.0, 1.0)
    return np.where(land, flat * low * (0.45 + 0.55 * water_near), 0.0)


def place(
    seed: int,
    i0: int,
    j0: int,
    score: np.ndarray,
    interior: tuple[int, int, int, int],
) -> list[Settlement]:
    """Settlements of every tier whose site lies in ``interior`` (cells i0..i1, j0..j1 of
    the window whose top-left cell is (i0, j0) and whose suitability is ``score``)."""
    rows, cols = score.shape
    placed: list[Settlement] = []
    for tier_index, tier in enumerate(TIERS):
        step = SITE_CELLS[tier]
        ia, ja, ib, jb = interior
        for sj in range(ja // step, -(-jb // step)):
            for si in range(ia // step, -(-ib // step)):
                r0, c0 = sj * step - j0, si * step - i0
                if r0 < 0 or c0 < 0 or r0 + step > rows or c0 + step > cols:
                    continue
                jitter = hash_uniform(
                    np.arange(step * step) + si * 7919,
                    np.full(step * step, sj),
                    seed + 31 + tier_index,
                ).reshape(step, step)
                block = score[r0 : r0 + step, c0 : c0 + step] * (0.75 + 0.25 * jitter)
                best = int(np.argmax(block))
                if block.flat[best] < 0.25:
                    continue
                chance = hash_uniform(np.array([si]), np.array([sj]), seed + 41 + tier_index)[0]
                if chance > SITE_SHARE[tier]:
                    continue
                r, c = divmod(best, step)
                x, y = i0 + c0 + c + 0.5, j0 + r0 + r + 0.5
                if tier in KEEP_AWAY and placed:
                    here = np.array([(s.x, s.y) for s in placed])
                    if (np.hypot(here[:, 0] - x, here[:, 1] - y) < KEEP_AWAY[tier]).any():
                        continue
                lo, hi = POPULATION[tier]
                size = hash_uniform(np.array([si]), np.array([sj]), seed + 51 + tier_index)[0]
                population = int(lo * (hi / lo) ** (size**2))
                key = (si * 1_000_003 + sj) * 3 + tier_index
                placed.append(Settlement(x, y, tier, population, settlement_name(seed, key)))
    return placed
