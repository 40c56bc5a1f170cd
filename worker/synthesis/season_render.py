"""Renderer 10: renderer 9 with the fields of a landscape drawn from photographs of one
season, not a quilt of every crop the bank holds.

Looked at as a person would, renderer 9's farmland at z14 and z16 was a quilt: each
field took any photograph of its surface by its own hash, so a bright yellow wheat
stubble lay beside a dark olive irrigated crop, a green lawn beside red gravel, plot
after plot. Renderer 5's season only pulled each field's colour 30 % of the way to its
region's tone, which greys the photographs without making them agree. In real imagery
the fields of one landscape on one date are at one stage of one season: mostly green in
the rains, mostly stubble, fallow and bare soil in the dry months, with a few plots out
of step (an irrigated garden, a field just ploughed). Fields differ by tone within that
family, not by family.

Here the season the renderer already has (``_season_at``: 0 green, 1 dry, drifting over
~8 km, each farm block leaning its own way), read at each farm block's site so that it is
one value over a block, chooses the photographs:

- what a field is: crops and grass in the green season, stubble (the savanna
  photographs) and bare soil more often in the dry one (SHARES_GREEN to SHARES_DRY);
- which photograph: the surface's photographs in order from green to dry (by their mean
  colour's red against green), a field taking the one its season points at, give or
  take a third of the range (SEASON_SPREAD); one field in OUT_OF_STEP takes any.

Every field keeps its photograph, its own brightness, margins and rows as renderer 9
draws them; nothing else changes.
"""

from __future__ import annotations

import numpy as np

from core.noise import hash_uniform
from core.plan.grid import CELLS
from core.plan.raster import M_PER_CELL
from model_store.texture_bank import Surface
from worker.synthesis.bank_render import PARCEL_SEED, Fields
from worker.synthesis.plan_render import FieldParcels, block_site
from worker.synthesis.river_render import RiverBedRenderer

# What a field is drawn from (crop, grass, savanna stubble, soil) at either end of the
# season; their mean is FIELD_SHARES, renderer 9's.
SHARES_GREEN = (0.55, 0.35, 0.03, 0.07)
SHARES_DRY = (0.35, 0.15, 0.27, 0.23)
SEASON_SPREAD = 0.35  # a field's photograph: its season's, +- this share of the range
OUT_OF_STEP = 0.1  # fields that take any photograph of their surface


class SeasonalFieldRenderer(RiverBedRenderer):
    """Renderer 10 (see the module's text)."""

    version = 10

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._photo_orders: dict[str, np.ndarray] = {}

    def _field_choice(
        self, fields: Fields, parcels: FieldParcels, u: np.ndarray, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        season = self._block_season(parcels)
        green, dry = np.asarray(SHARES_GREEN), np.asarray(SHARES_DRY)
        shares = np.cumsum(
            green[None, :] * (1 - season[:, None]) + dry[None, :] * season[:, None], 1
        )
        pick_surface = hash_uniform(fields.fid_x, fields.fid_y, self.seed + 1311)
        which = (pick_surface[:, None] * shares[:, -1:] > shares[:, :-1]).sum(1)
        jitter = hash_uniform(fields.fid_x, fields.fid_y, self.seed + 1313)
        position = np.clip(season + 2 * SEASON_SPREAD * (jitter - 0.5), 0.0, 0.999)
        out_of_step = hash_uniform(fields.fid_x, fields.fid_y, self.seed + 2011) < OUT_OF_STEP
        return which, np.where(out_of_step, jitter, position)

    def _block_season(self, parcels: FieldParcels) -> np.ndarray:
        """The season at each farm block's site: one value for every pixel of a block,
        so no field is cut between two photographs where the season's noise, read at
        each pixel, crosses the line between them."""
        sx, sy = block_site(parcels.block_i, parcels.block_j, self.seed + PARCEL_SEED)
        per_metre = 1.0 / (M_PER_CELL * CELLS)  # world units per Mercator metre
        return self._season_at(parcels, sx * per_metre, sy * per_metre)

    def _field_photo_order(self, surface: Surface) -> np.ndarray | None:
        """A surface's photographs from green to dry: by how much redder than green their
        mean colour is, for its brightness."""
        if surface.name not in self._photo_orders:
            means = surface.means.astype(np.float64)
            dryness = (means[:, 0] - means[:, 1]) / np.maximum(means.sum(1), 1.0)
            self._photo_orders[surface.name] = np.argsort(dryness, kind="stable")
        return self._photo_orders[surface.name]
