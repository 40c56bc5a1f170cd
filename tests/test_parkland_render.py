"""Renderer 5 (worker/synthesis/parkland_render.py), piece by piece: trees one by one that
keep their area at every footprint and cast their shadows away from the sun, tracks that
run along only some farm-block edges, and the default model drawing with it."""

from __future__ import annotations

import numpy as np
import pytest

from core.world import CARANA_V5
from model_store.registry import ModelRegistry
from worker.synthesis.parkland_render import (
    CROWN_M,
    SHADOW_DX,
    SHADOW_DY,
    TREE_CELL_M,
    ParklandRenderer,
    tree_cover,
)
from worker.synthesis.plan_render import FieldParcels
from worker.synthesis.prior_drawing import PriorDrawing

SEED = 11


def _grid(size_m: float, fp: float, origin: float = 40_000.0) -> tuple[np.ndarray, np.ndarray]:
    n = int(size_m / fp)
    gy, gx = np.mgrid[0:n, 0:n]
    return (origin + (gx + 0.5) * fp).ravel(), (origin + (gy + 0.5) * fp).ravel()


def _expected_cover(density: float) -> float:
    """Mean crown area over the candidate cell: radii r0 + (r1 - r0) h^1.5, h uniform."""
    h = (np.arange(100_000) + 0.5) / 100_000
    r = CROWN_M[0] + (CROWN_M[1] - CROWN_M[0]) * h**1.5
    return density * float(np.mean(np.pi * r**2)) / TREE_CELL_M**2


@pytest.mark.parametrize("fp", [1.2, 2.4, 9.6, 38.0])
def test_trees_keep_their_area_at_every_footprint(fp: float) -> None:
    """A crown smaller than a pixel is not lost or blown up: over 3 km the share of ground
    under crowns is the density's expectation whatever the pixel size (overlaps of
    neighbouring crowns make it a little less)."""
    mx, my = _grid(3000.0, fp)
    crown, shadow, _ = tree_cover(mx, my, np.full(mx.shape, 0.4), fp, SEED)
    expected = _expected_cover(0.4)
    assert 0.8 * expected <= crown.mean() <= 1.1 * expected, (fp, crown.mean(), expected)
    assert 0.8 * expected <= shadow.mean() <= 1.1 * expected
    assert crown.max() <= 1.0 and crown.min() >= 0.0


def test_crowns_are_solid_at_close_zoom_and_faint_when_smaller_than_a_pixel() -> None:
    fine, _, _ = tree_cover(*_grid(600.0, 1.2), np.full(250_000, 0.4), 1.2, SEED)
    coarse_xy = _grid(600.0, 38.0)
    coarse, _, _ = tree_cover(*coarse_xy, np.full(coarse_xy[0].shape, 0.4), 38.0, SEED)
    assert (fine > 0.99).mean() > 0.5 * _expected_cover(0.4)  # whole crowns, sharp edged
    assert coarse.max() < 0.2  # a 38 m pixel never turns wholly into one tree


def test_no_tree_grows_where_the_density_is_nothing_and_trees_follow_the_density() -> None:
    mx, my = _grid(1500.0, 2.4)
    none, shadow, _ = tree_cover(mx, my, np.zeros(mx.shape), 2.4, SEED)
    assert none.max() == 0.0 and shadow.max() == 0.0
    sparse, _, _ = tree_cover(mx, my, np.full(mx.shape, 0.1), 2.4, SEED)
    dense, _, _ = tree_cover(mx, my, np.full(mx.shape, 0.6), 2.4, SEED)
    assert 4.0 < dense.mean() / sparse.mean() < 8.0


def test_tree_shadows_fall_away_from_the_sun() -> None:
    """The hillshade's sun is in the north-west: shadows lie south-east of their crowns
    (x grows east, y south)."""
    assert SHADOW_DX > 0 and SHADOW_DY > 0
    mx, my = _grid(1200.0, 1.2)
    crown, shadow, _ = tree_cover(mx, my, np.full(mx.shape, 0.3), 1.2, SEED)
    size = int(np.sqrt(mx.size))
    crown, shadow = crown.reshape(size, size), shadow.reshape(size, size)
    # Shift the shadow map back by the shadow offset of a mid-sized crown: it then lies
    # under the crowns far more than unshifted.
    r = 0.5 * sum(CROWN_M)
    dx, dy = round(SHADOW_DX * r / 1.2), round(SHADOW_DY * r / 1.2)
    back = np.roll(np.roll(shadow, -dy, axis=0), -dx, axis=1)
    forward = np.roll(np.roll(shadow, dy, axis=0), dx, axis=1)
    assert (back * crown).sum() > 2.0 * (forward * crown).sum()


def test_the_tree_field_is_a_pure_function_of_position() -> None:
    mx, my = _grid(900.0, 2.4)
    density = np.full(mx.shape, 0.35)
    whole = tree_cover(mx, my, density, 2.4, SEED)
    part = tree_cover(mx[5000:9000], my[5000:9000], density[5000:9000], 2.4, SEED)
    for a, b in zip(whole, part, strict=True):
        assert np.array_equal(a[5000:9000], b)


@pytest.fixture(scope="module")
def renderer() -> ParklandRenderer:
    entry = ModelRegistry().verify(CARANA_V5.model)
    drawing = PriorDrawing.from_conditioning(entry.path, entry.id, entry.conditioning)
    assert drawing is not None
    made = drawing.plan_renderer(CARANA_V5.seed)
    assert isinstance(made, ParklandRenderer) and made.version == 5
    return made


def test_tracks_run_along_only_some_farm_block_edges(renderer: ParklandRenderer) -> None:
    """Renderer 4 drew a track round every farm block (the Voronoi web of the layout);
    renderer 5's tracks follow a block edge for a few hundred metres and stop."""
    n = 20_000
    rng = np.random.default_rng(4)
    u, v = rng.uniform(0.40, 0.41, n), rng.uniform(0.52, 0.53, n)
    on_edge = np.zeros(n)
    zeros = np.zeros(n, np.int64)
    parcels = FieldParcels(
        *(zeros, zeros, np.zeros(n), np.zeros(n), np.full(n, 50.0), zeros, zeros),
        *(np.zeros(n), np.full(n, 20.0), on_edge, np.zeros(n), np.zeros(n), np.full(n, 90.0)),
    )
    tracks = renderer._block_track(parcels, u, v, 2.4)
    share = (tracks > 0.5).mean()
    assert 0.2 < share < 0.7, share
    every = super(ParklandRenderer, renderer)._block_track(parcels, u, v, 2.4)
    assert (every > 0.5).all()


def test_water_ripples_keep_the_photographs_texture_without_their_tones(
    renderer: ParklandRenderer,
) -> None:
    """Renderer 4 rippled water with the photographs' own tones, which the regional crop
    choice laid over lakes as blotches; renderer 5's ripple crops share one tone."""
    water = renderer.photos.surface("water")
    flat = renderer._ripple_surface()
    assert water.means.std(0).max() > 5.0  # the photographs do differ in tone
    crop_means = flat.levels[0].reshape(flat.count, -1, 3).mean(1)
    assert np.abs(crop_means - water.means.mean(0)).max() < 1.5
    for level in (0, 3):
        texture = water.levels[level].astype(np.float64) - water.means[:, None, None, :]
        shifted = flat.levels[level].astype(np.float64) - flat.means[:, None, None, :]
        assert np.abs(texture - shifted).mean() < 0.6  # the same detail, up to rounding
