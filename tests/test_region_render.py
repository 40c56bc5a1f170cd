"""Renderer 6 (worker/synthesis/region_render.py): the regional choice of photographs is an
organic field, without renderer 5's square lattice and its plateaus of extreme crops."""

from __future__ import annotations

import numpy as np
import pytest

from core.world import CARANA_V5, CARANA_V6
from tests.renderers import bank_renderer
from worker.synthesis.bank_render import REGION_CELLS, BankRenderer
from worker.synthesis.region_render import OrganicRegionRenderer


@pytest.fixture(scope="module")
def renderers() -> tuple[BankRenderer, BankRenderer]:
    old = bank_renderer(CARANA_V5.model, CARANA_V5.seed)
    new = bank_renderer(CARANA_V6.model, CARANA_V6.seed)
    assert old.version == 5
    assert isinstance(new, OrganicRegionRenderer) and new.version == 6
    return old, new


def _lattice_columns(renderer: BankRenderer, rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The field's x-derivative on the region lattice's vertical lines, and everywhere
    (native pixels; 40 lattice columns, 400 rows)."""
    cell_px = renderer._world_px / REGION_CELLS  # one region cell in native pixels
    x0 = np.floor(0.4 * REGION_CELLS) * cell_px  # a lattice line well inside the world
    y = 0.55 * renderer._world_px + np.linspace(0.0, 30 * cell_px, rows)
    h = 0.01 * cell_px
    on_lines = []
    anywhere = []
    rng = np.random.default_rng(5)
    for k in range(40):
        for xs, into in (
            (x0 + k * cell_px, on_lines),
            (x0 + (k + rng.uniform()) * cell_px, anywhere),
        ):
            xs = np.full_like(y, xs)
            left = renderer._crop_rank(xs - h, y, renderer.seed)
            right = renderer._crop_rank(xs + h, y, renderer.seed)
            into.append(np.abs(right - left) / (2 * h))
    return np.concatenate(on_lines), np.concatenate(anywhere)


def test_the_regional_field_has_no_square_lattice(renderers) -> None:
    """Value noise interpolated by smoothstep is flat across every lattice line: renderer 5's
    field does not change in x along its vertical lines, which is what draws its square
    blotches. Renderer 6's turned and warped octaves change there as anywhere else."""
    old, new = renderers
    on_lines, anywhere = _lattice_columns(old)
    assert on_lines.mean() < 0.02 * anywhere.mean()
    on_lines, anywhere = _lattice_columns(new)
    assert on_lines.mean() > 0.5 * anywhere.mean()


def test_the_extreme_crops_are_patches_not_plateaus(renderers) -> None:
    """Renderer 5 stretched its field past the darkest and brightest crop, so each held whole
    flat regions; renderer 6's field reaches them only where it is itself extreme."""
    old, new = renderers
    rng = np.random.default_rng(7)
    vx = rng.uniform(0.3, 0.5, 20_000) * old._world_px
    vy = rng.uniform(0.5, 0.6, 20_000) * old._world_px
    clipped_old = np.mean(
        (old._crop_rank(vx, vy, old.seed) < 0) | (old._crop_rank(vx, vy, old.seed) > 1)
    )
    rank = new._crop_rank(vx, vy, new.seed)
    clipped_new = np.mean((rank < 0) | (rank > 1))
    assert clipped_old > 0.1
    assert clipped_new < 0.4 * clipped_old
    assert rank.std() > 0.15  # still a landscape of different grounds, not one mean crop


def test_the_field_is_a_pure_function_of_position(renderers) -> None:
    _, new = renderers
    rng = np.random.default_rng(9)
    vx, vy = rng.uniform(0, 1e7, 3000), rng.uniform(0, 1e7, 3000)
    whole = new._crop_rank(vx, vy, new.seed)
    parts = np.concatenate(
        [new._crop_rank(vx[i : i + 7], vy[i : i + 7], new.seed) for i in range(0, 3000, 7)]
    )
    assert np.array_equal(whole, parts)
