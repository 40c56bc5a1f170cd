"""Texture prior: statistics of training textures, random-phase synthesis, and its render
over the world as a pure function of position."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.classes import CLASS_INDEX
from model_store.sampling import SamplingInputs, sample
from model_store.texture_prior import (
    TexturePrior,
    build_texture_prior,
    synthesize,
    texture_stats,
)
from worker.synthesis.texture_render import TextureRenderer, line_coverage


def _stripes(size: int = 256, period: int = 8) -> np.ndarray:
    x = np.arange(size)
    wave = 100 + 60 * np.sin(2 * np.pi * x / period)
    image = np.stack([wave, wave * 0.8, wave * 0.5], -1)[None].repeat(size, 0)
    return image.astype(np.uint8)


def _speckle(size: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grey = rng.normal(90, 25, (size, size, 1))
    return np.clip(grey * np.array([0.6, 1.0, 0.5]), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def prior(tmp_path_factory: pytest.TempPathFactory) -> TexturePrior:
    folder = tmp_path_factory.mktemp("textures")
    Image.fromarray(_stripes()).save(folder / "fields.png")
    Image.fromarray(_speckle()).save(folder / "woods.png")
    Image.fromarray(_speckle(48)).save(folder / "too-small.png")
    labels = {"fields.png": "cropland", "woods.png": "forest", "too-small.png": "urban"}
    built = build_texture_prior(folder, labels, size=64, per_class=4)
    path = folder / "prior.safetensors"
    built.save(path)
    return TexturePrior.load(path)


def test_prior_keeps_per_class_statistics_and_skips_small_images(prior: TexturePrior) -> None:
    assert set(prior.classes) == {"cropland", "forest"}  # the 48-px urban image is too small
    fields = prior.classes["cropland"][0]
    np.testing.assert_allclose(fields.mean, _stripes().reshape(-1, 3).mean(0), atol=0.5)
    # A vertical stripe pattern puts its energy on the horizontal frequency axis (the Hann
    # window spreads it to the rows next to it).
    power = fields.amplitude[0] ** 2
    assert power[[0, 1, -1], :].sum() > 0.95 * power.sum()


def test_synthesis_reproduces_spectrum_and_spread_with_new_phases(prior: TexturePrior) -> None:
    stats = prior.classes["cropland"][0]
    texture = synthesize(stats, seed=1)
    assert texture.shape == (64, 64, 3)
    assert abs(texture.mean()) < 1.0
    np.testing.assert_allclose(
        texture.reshape(-1, 3).std(0), _stripes().reshape(-1, 3).std(0), rtol=0.05
    )
    # Still stripes (the spectrum), but not the training picture shifted (phases are new).
    column_profile = texture[..., 0].mean(0)
    assert column_profile.std() > 0.7 * texture[..., 0].std()  # isotropic noise: ~0.13
    assert not np.array_equal(synthesize(stats, seed=1), synthesize(stats, seed=2))
    np.testing.assert_array_equal(texture, synthesize(stats, seed=1))


def test_texture_stats_refuses_images_smaller_than_the_window() -> None:
    with pytest.raises(ValueError, match="smaller than"):
        texture_stats(_speckle(32), 64)


def test_render_is_a_pure_function_of_position(prior: TexturePrior) -> None:
    renderer = TextureRenderer(prior, world_seed=5, native_zoom=16, cell_px=32)
    classes = np.full((64, 96), CLASS_INDEX["forest"], np.uint8)
    classes[:, 40:] = CLASS_INDEX["cropland"]
    whole = renderer.render(16, 1000, 2000, classes)
    left = renderer.render(16, 1000, 2000, classes[:, :50])
    right = renderer.render(16, 1050, 2000, classes[:, 50:])
    np.testing.assert_array_equal(whole, np.concatenate([left, right], 1))
    again = TextureRenderer(prior, world_seed=5, native_zoom=16, cell_px=32)
    np.testing.assert_array_equal(whole, again.render(16, 1000, 2000, classes))
    other_world = TextureRenderer(prior, world_seed=6, native_zoom=16, cell_px=32)
    assert not np.array_equal(whole, other_world.render(16, 1000, 2000, classes))
    assert whole[:, :40].std() > 5 and whole[:, 40:].std() > 5  # textured, not flat


def test_render_fades_to_the_class_colour_where_parcels_shrink_to_pixels(
    prior: TexturePrior,
) -> None:
    renderer = TextureRenderer(prior, world_seed=5, native_zoom=16, cell_px=32)
    classes = np.full((32, 32), CLASS_INDEX["forest"], np.uint8)
    far_out = renderer.render(10, 500, 700, classes)  # a 32-px parcel is half a pixel here
    np.testing.assert_allclose(
        far_out, np.broadcast_to(prior.classes["forest"][0].mean, far_out.shape), atol=1e-3
    )
    # A class the prior lacks borrows a texture instead of failing.
    urban = np.full((32, 32), CLASS_INDEX["urban"], np.uint8)
    assert np.isfinite(renderer.render(16, 0, 0, urban)).all()


def test_line_coverage_is_antialiased() -> None:
    x = np.array([0.0, 10.0, 50.0])
    np.testing.assert_allclose(line_coverage(x, 100.0, 4.0, 1.0), [1.0, 0.0, 0.0])
    # A pixel 8 units wide over a 4-unit line is half covered.
    np.testing.assert_allclose(line_coverage(np.array([0.0]), 100.0, 4.0, 8.0), [0.5])


class _CountingUNet(torch.nn.Module):
    """Stands in for the U-Net in a test of the sampling loop only: predicts zero velocity
    and counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        self.calls += 1
        return type("Out", (), {"sample": torch.zeros_like(x[:, :3])})()


@pytest.mark.parametrize(("strength", "calls"), [(None, 6), (1.0, 6), (0.5, 3), (0.01, 1)])
def test_sdedit_start_runs_the_last_steps_only(strength: float | None, calls: int) -> None:
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(prediction_type="v_prediction")
    unet = _CountingUNet()
    size = 16
    init = torch.full((1, 3, size, size), 0.3) if strength is not None else None
    inputs = SamplingInputs(
        parent_half=torch.zeros((1, 3, size // 2, size // 2)),
        known=torch.zeros((1, 3, size, size)),
        mask=torch.zeros((1, 1, size, size)),
        class_map=torch.zeros((1, size, size), dtype=torch.long),
        scale=torch.zeros(1),
        seeds=[1],
        init_residual=init,
        strength=strength or 1.0,
    )
    image = sample(unet, scheduler, inputs, steps=6, residual_scale=4.0)
    assert unet.calls == calls
    assert image.shape == (1, 3, size, size)
