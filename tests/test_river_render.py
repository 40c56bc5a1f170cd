"""Renderer 9: rivers as beds of sand with a low-water thread, from the plan raster's
position across each channel (core.plan.raster.draw_channels)."""

from __future__ import annotations

import numpy as np
import pytest

from core.plan.grid import CELLS
from core.plan.lines import Polylines
from core.plan.raster import CHANNEL_REACH, M_PER_CELL, draw_channels
from core.world import CARANA_V9, CARANA_V10
from tests.renderers import draw_with_renderer
from worker.evaluation.mosaics import random_places, region_at
from worker.synthesis.river_render import BED_WIDENS, STREAM_HALF_M, river_bed

SEED = 11
PIXEL = 2.0 / M_PER_CELL  # cell units per pixel: 2 m pixels


def _channels(lines: Polylines, shape=(120, 200)):
    offset = np.zeros(shape, np.float32)
    half = np.zeros(shape, np.float32)
    nearest = np.full(shape, np.inf)
    draw_channels(lines, ("river", "stream"), 0.0, 0.0, PIXEL, offset, half, nearest)
    return offset, half


def _line(y_px: float, width_m: float, kind: str = "river", reverse: bool = False):
    xs = np.array([-10.0, 210.0]) * PIXEL
    points = np.stack([xs, np.full(2, y_px * PIXEL)], axis=1)
    if reverse:
        points = points[::-1].copy()
    return points, np.full(2, width_m), kind


def test_channels_say_how_far_across_and_on_which_side() -> None:
    offset, half = _channels(Polylines.from_lines([_line(60, 40.0)]))
    rows = np.arange(offset.shape[0])
    metres = (60 - rows) * 2.0  # rows above the line (north) are its left going east
    reach = CHANNEL_REACH * 20.0 + 2.0
    reached = np.abs(metres) < reach - 1.0
    column = 100
    assert np.allclose(offset[reached, column], metres[reached], atol=1e-3)
    assert np.allclose(half[reached, column], 20.0)
    # Beyond twice the half width (and a pixel) nothing is said.
    beyond = np.abs(metres) > reach + 1.0
    assert (half[beyond, column] == 0).all() and (offset[beyond, column] == 0).all()
    # The other direction: the sides swap.
    flipped, _ = _channels(Polylines.from_lines([_line(60, 40.0, reverse=True)]))
    assert np.allclose(flipped[reached, column], -metres[reached], atol=1e-3)


def test_the_nearest_channel_wins_and_streams_count() -> None:
    lines = Polylines.from_lines([_line(30, 30.0), _line(80, 10.0, "stream")])
    offset, half = _channels(lines)
    assert half[30, 50] == pytest.approx(15.0) and offset[30, 50] == pytest.approx(0.0)
    assert half[80, 50] == pytest.approx(5.0) and offset[80, 50] == pytest.approx(0.0)
    # Row 40 is 20 m from the river's line and 80 m from the stream's (out of its reach).
    assert half[40, 50] == pytest.approx(15.0) and offset[40, 50] == pytest.approx(-20.0)
    # Row 75: 10 m north of the stream, 90 m from the river (out of its reach of 32 m).
    assert half[75, 50] == pytest.approx(5.0) and offset[75, 50] == pytest.approx(10.0)


def _along(n: int = 40_000, rng_seed: int = 3):
    """Positions along a few kilometres of ground, and across a channel."""
    rng = np.random.default_rng(rng_seed)
    u = rng.uniform(0.40, 0.40 + 8_000.0 / (CELLS * M_PER_CELL), n)
    v = np.full(n, 0.52)
    return u, v, rng


def test_the_thread_winds_in_a_bed_that_widens_only_for_rivers() -> None:
    u, v, rng = _along()
    half_m = 25.0
    offset = rng.uniform(-2.0 * half_m, 2.0 * half_m, u.shape)
    bed, water, depth, wet = river_bed(u, v, offset, np.full(u.shape, half_m), 2.0, SEED)
    for a in (bed, water, depth, wet):
        assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() <= 1.0
    inside = np.abs(offset) < 0.5 * half_m
    # Along the course the middle of the channel is sometimes water, sometimes sand.
    middle = water[inside & (bed == 1)]
    assert 0.2 < (middle > 0.5).mean() < 0.95
    # Beside the channel (past its plan width) the bed reaches out where the river is low,
    # never past BED_WIDENS x 1.3 half widths and a ramp.
    beside = (np.abs(offset) > half_m + 4.0) & (np.abs(offset) < 1.4 * half_m)
    assert 0.05 < (bed[beside] > 0.5).mean() < 0.9
    assert (bed[np.abs(offset) > BED_WIDENS * 1.3 * half_m + 4.0] == 0).all()
    # The water is no deeper than where it is.
    assert (depth <= water + 1e-6).all()

    # A stream keeps its bed: nothing past its channel and a ramp.
    stream = STREAM_HALF_M
    offset = rng.uniform(-2.0 * stream, 2.0 * stream, u.shape)
    bed, water, _, _ = river_bed(u, v, offset, np.full(u.shape, stream), 2.0, SEED)
    assert (bed[np.abs(offset) > stream + 2.0] == 0).all()
    assert water[np.abs(offset) < 0.3 * stream].mean() > 0.5  # and holds more water


def test_the_bed_is_a_pure_function_of_position() -> None:
    u, v, rng = _along(8_000)
    offset = rng.uniform(-40.0, 40.0, u.shape)
    half = np.full(u.shape, 20.0)
    whole = river_bed(u, v, offset, half, 2.4, SEED)
    part = river_bed(u[1000:3000], v[1000:3000], offset[1000:3000], half[1000:3000], 2.4, SEED)
    for a, b in zip(whole, part, strict=True):
        assert np.array_equal(a[1000:3000], b)


def test_renderer_9_changes_rivers_only() -> None:
    """A z14 stretch of a river in carana-v10 (renderer 9's world), drawn by renderers 8
    and 9: every pixel away from a channel is the same; in the river the bed shows pale sand beside
    darker water, where renderer 8 had one tone from bank to bank."""
    assert CARANA_V10.model == "carana-sr@0.11.0" and CARANA_V9.model == "carana-sr@0.10.0"
    lon, lat = random_places(CARANA_V10, 1, 0)[0]
    region = region_at(CARANA_V10, lon, lat, 14, 8)
    left, top = region.x0 * 256 + 560, region.y0 * 256 + 480
    old, raster = draw_with_renderer(CARANA_V10, 8, 14, left, top, 256)
    new, _ = draw_with_renderer(CARANA_V10, 9, 14, left, top, 256)
    # A coarse pixel is the mean of four sub-pixels, each with its own channel position:
    # a pixel a channel's reach does not touch is one whose neighbours it does not either.
    near = raster.channel_half > 0
    padded = np.pad(near, 1)
    touched = np.zeros_like(near)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            touched |= padded[1 + dy : 1 + dy + near.shape[0], 1 + dx : 1 + dx + near.shape[1]]
    assert (raster.river > 0.5).sum() > 500  # the river is there
    assert np.array_equal(old[~touched], new[~touched])
    river = raster.river > 0.9
    light_old = old[river].mean(1)
    light_new = new[river].mean(1)
    assert np.abs(light_new - light_old).mean() > 5.0
    # Renderer 9's river holds both sand and water: a wide spread of light across it.
    assert np.percentile(light_new, 90) - np.percentile(light_new, 10) > 1.5 * (
        np.percentile(light_old, 90) - np.percentile(light_old, 10)
    )
