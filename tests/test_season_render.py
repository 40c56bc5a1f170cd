"""Renderer 10: the fields of a landscape drawn from photographs of its season."""

from __future__ import annotations

import numpy as np
import pytest

from core.classes import CLASS_INDEX
from core.plan.grid import CELLS, lonlat_to_cell
from core.plan.raster import M_PER_CELL
from core.world import CARANA_V10, DEFAULT_WORLD
from tests.renderers import bank_renderer, draw_with_renderer
from worker.evaluation.mosaics import random_places, region_at
from worker.synthesis.bank_render import PARCEL_SEED, BankRenderer, _split_fields
from worker.synthesis.river_render import RiverBedRenderer
from worker.synthesis.season_render import SHARES_DRY, SHARES_GREEN, SeasonalFieldRenderer


def test_the_season_s_two_ends_average_to_renderer_9_s_shares() -> None:
    from worker.synthesis.bank_render import FIELD_SHARES

    assert sum(SHARES_GREEN) == pytest.approx(1.0) and sum(SHARES_DRY) == pytest.approx(1.0)
    mean = (np.asarray(SHARES_GREEN) + np.asarray(SHARES_DRY)) / 2
    np.testing.assert_allclose(mean, np.asarray(FIELD_SHARES) / sum(FIELD_SHARES))


def _field_photos(renderer: BankRenderer, count: int = 40_000):
    """Fields at random places over ~60 km of Carana: each pixel's season, the dryness
    of the photograph its field is drawn from, and which surface that photograph is of."""
    rng = np.random.default_rng(5)
    x0, y0 = lonlat_to_cell(-26.6, -7.6)
    x = x0 + rng.uniform(0, 50, count)  # cells of ~1.2 km
    y = y0 + rng.uniform(0, 50, count)
    u, v = x / CELLS, y / CELLS
    mx, my = x * M_PER_CELL, y * M_PER_CELL
    wx, wy = renderer._warped(mx, my, u, v)
    parcels = renderer._parcels(wx, wy, u, v, renderer.seed + PARCEL_SEED)
    fields = _split_fields(parcels, renderer.seed)
    which, position = renderer._field_choice(fields, parcels, u, v)
    dryness = np.zeros(count)
    for index, surface in enumerate(renderer._field_surfaces):
        sel = which == index
        pick = renderer._field_photo(surface, position[sel])
        means = surface.means[pick].astype(np.float64)
        dryness[sel] = (means[:, 0] - means[:, 1]) / means.sum(1)
    season = renderer._season_at(parcels, u, v)
    return season, dryness, which


def test_fields_take_the_photographs_of_their_season() -> None:
    """Renderer 9 picks a field's photograph by its hash alone: what it shows has nothing
    to do with where the season stands. Renderer 10's fields are greener where the
    season is green, drier where it is dry, and the dry season has more stubble and soil."""
    old = bank_renderer(CARANA_V10.model, DEFAULT_WORLD.seed)
    new = bank_renderer(DEFAULT_WORLD.model, DEFAULT_WORLD.seed)
    assert type(old) is RiverBedRenderer and type(new) is SeasonalFieldRenderer
    season, dryness, _ = _field_photos(old)
    assert abs(np.corrcoef(season, dryness)[0, 1]) < 0.1
    season, dryness, which = _field_photos(new)
    assert season.std() > 0.2  # the area spans the seasons
    assert np.corrcoef(season, dryness)[0, 1] > 0.4
    green, dry = season < 0.3, season > 0.7
    stubble_or_soil = which >= 2
    assert stubble_or_soil[dry].mean() > stubble_or_soil[green].mean() + 0.25


def test_photographs_run_from_green_to_dry() -> None:
    renderer = bank_renderer(DEFAULT_WORLD.model, DEFAULT_WORLD.seed)
    crop = renderer.photos.surface("crop")
    order = renderer._field_photo_order(crop)
    names = [crop.sources[i] for i in order]
    assert sorted(order) == list(range(crop.count))
    # The bank's wheat stubble is the dry end of its crops, the orchard the green end.
    assert names[-1].startswith("australia-drycrop") and names[0] == "orchard.png"


def test_renderer_10_changes_fields_only() -> None:
    """A z15 stretch of farmland in the default world drawn by renderers 9 and 10: every
    pixel away from cropland is the same, the fields are not."""
    lon, lat = random_places(DEFAULT_WORLD, 1, 0)[0]
    region = region_at(DEFAULT_WORLD, lon, lat, 15, 8)
    left, top = region.x0 * 256 + 300, region.y0 * 256 + 300
    old, raster = draw_with_renderer(DEFAULT_WORLD, 9, 15, left, top, 384)
    new, _ = draw_with_renderer(DEFAULT_WORLD, 10, 15, left, top, 384)
    drawn = bank_renderer(DEFAULT_WORLD.model, DEFAULT_WORLD.seed)._land_cover(raster)
    crop = drawn.classes == CLASS_INDEX["cropland"]
    # A pixel is the mean of its sub-pixels: one beside a field may hold some of it.
    padded = np.pad(crop, 2)
    near = np.zeros_like(crop)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near |= padded[2 + dy : 2 + dy + crop.shape[0], 2 + dx : 2 + dx + crop.shape[1]]
    assert crop.mean() > 0.2 and (~near).mean() > 0.05  # farmland and other land
    assert np.array_equal(old[~near], new[~near])
    changed = np.abs(old[crop].astype(int) - new[crop].astype(int)).max(1) > 0
    assert changed.mean() > 0.3


def test_a_field_is_drawn_from_one_photograph() -> None:
    """The season renderer 10 chooses by is one value over a farm block (read at its
    site): read at each pixel, it crossed the line between two photographs inside 3 % of
    the fields, which showed cut in two along a curve."""
    renderer = bank_renderer(DEFAULT_WORLD.model, DEFAULT_WORLD.seed)
    x0, y0 = lonlat_to_cell(-26.6, -7.6)
    grid = np.linspace(0.0, 3.0, 400)  # ~3.6 km at ~9 m
    x, y = (a.ravel() for a in np.meshgrid(x0 + grid, y0 + grid))
    u, v = x / CELLS, y / CELLS
    wx, wy = renderer._warped(x * M_PER_CELL, y * M_PER_CELL, u, v)
    parcels = renderer._parcels(wx, wy, u, v, renderer.seed + PARCEL_SEED)
    fields = _split_fields(parcels, renderer.seed)
    which, position = renderer._field_choice(fields, parcels, u, v)
    photo = np.zeros(len(x), np.int64)
    for index, surface in enumerate(renderer._field_surfaces):
        sel = which == index
        photo[sel] = index * 1000 + renderer._field_photo(surface, position[sel])
    field = fields.fid_x.astype(np.int64) * 1_000_003 + fields.fid_y
    pairs = np.unique(np.stack([field, photo], 1), axis=0)
    assert len(np.unique(field)) > 2000
    assert len(pairs) == len(np.unique(field)), "a field holds two photographs"
