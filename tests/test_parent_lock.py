"""The smooth parent lock (model_store.conditioning.smooth_parent): a unit drawn from a
render keeps the low frequencies of its parent's difference from that render, not its
pixel-level part, and never reads the pixels its parent canvas only repeats."""

from __future__ import annotations

import numpy as np
import torch

from model_store.conditioning import smooth_parent

SIZE = 48
SIGMA = 2.0


def _render(seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(-0.6, 0.6, (1, 3, SIZE, SIZE)).astype(np.float32))


def _all_real() -> torch.Tensor:
    return torch.ones((1, 1, SIZE, SIZE))


def test_the_parents_low_frequencies_are_kept() -> None:
    """A difference that changes slowly (a tone drifting over the canvas) is the parent's
    to give: the unit follows it."""
    render = _render()
    y, x = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    drift = 0.2 + 0.1 * torch.sin(2 * torch.pi * (x + 0.5 * y) / 40.0)
    parent = render + drift
    kept = smooth_parent(parent, render, _all_real(), SIGMA)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert torch.allclose(kept[inner], parent[inner], atol=0.01)


def test_the_parents_pixel_level_difference_is_left_to_the_render() -> None:
    """What the zoom above drew differently pixel by pixel (a checkerboard, or noise) is
    not carried down: the unit keeps its own render there."""
    render = _render()
    y, x = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    checker = 0.3 * (((x + y) % 2) * 2 - 1).float()
    kept = smooth_parent(render + checker, render, _all_real(), SIGMA)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert (kept - render)[inner].abs().max() < 0.01
    noise = 0.3 * torch.from_numpy(np.random.default_rng(2).standard_normal((1, 3, SIZE, SIZE)))
    kept = smooth_parent(render + noise.float(), render, _all_real(), SIGMA)
    # A Gaussian of sigma 2 keeps ~1 / (4 pi sigma^2) of white noise's variance: ~0.14 of
    # its standard deviation.
    assert (kept - render)[inner].std() < 0.25 * noise[inner].std()


def test_repeated_pixels_are_not_read() -> None:
    """Pixels the canvas only repeats (a margin the zoom above has not drawn) carry no
    weight: whatever they hold, the unit is the same."""
    render = _render()
    parent = render + 0.1
    real = _all_real()
    real[..., :, :10] = 0.0
    one = parent.clone()
    one[..., :, :10] = 1.0
    other = parent.clone()
    other[..., :, :10] = -1.0
    kept_one = smooth_parent(one, render, real, SIGMA)
    kept_other = smooth_parent(other, render, real, SIGMA)
    assert torch.allclose(kept_one[..., 10:], kept_other[..., 10:])
    # ... and the unit next to them still follows the real parent's offset.
    assert torch.allclose(kept_one[..., 10:] - render[..., 10:], torch.tensor(0.1), atol=1e-5)


UNIT = (11, 870, 1062)  # a z11 unit on land near Carana's middle (phase 0: no known neighbours)


def _unit_under(model: str, parent_tile: np.ndarray) -> tuple[np.ndarray, object]:
    """(the unit's pixels, the generator) when ``model`` makes UNIT from ``parent_tile``."""
    from core.settings import WorkerSettings
    from core.units import UnitKey
    from core.world import CARANA_V8
    from worker.synthesis.engine import build_request, finish_canvas
    from worker.synthesis.generators import load_generator

    world = CARANA_V8.model_copy(update={"model": model})
    request = build_request(world, UnitKey(world.id, *UNIT), lambda z, x, y: parent_tile, "parent")
    generator = load_generator(model, WorkerSettings())
    canvas = generator.generate([request])[0]
    return finish_canvas(request, canvas, feather=False).astype(np.float64), generator


def test_the_exact_lock_copies_the_parents_pixels_and_the_smooth_lock_its_tone() -> None:
    """One unit, its parent doctored with a +12 tone and a +-16 checkerboard of squares
    2 parent pixels wide: under carana-sr@0.9.0's exact lock the unit's 2x2 block means
    are the parent's pixels, checkerboard and all; under carana-sr@0.10.0's smooth lock
    the unit keeps its own render and takes the tone, not the checkerboard."""
    from core.settings import WorkerSettings
    from core.units import UnitKey
    from core.world import CARANA_V8
    from worker.synthesis.engine import build_request
    from worker.synthesis.generators import load_generator

    # The unit's render (what both models draw it from), and its half as the parent's
    # quadrant: a parent that agrees with the render but for the doctoring.
    probe = build_request(
        CARANA_V8,
        UnitKey(CARANA_V8.id, *UNIT),
        lambda z, x, y: np.zeros((256, 256, 3), np.uint8),
        "parent",
    )
    prior = load_generator(CARANA_V8.model, WorkerSettings()).prior
    render = prior.draw(
        CARANA_V8.seed, 11, probe.canvas_left, probe.canvas_top, probe.layout, probe.plan
    )
    m = probe.margin
    half = render.reshape(render.shape[0] // 2, 2, -1, 2, 3).mean((1, 3))
    own = half[m // 2 : m // 2 + 128, m // 2 : m // 2 + 128]
    y, x = np.mgrid[0:256, 0:256]
    checker = np.where((x // 2 + y // 2) % 2 == 0, 16.0, -16.0)[..., None]
    parent = np.zeros((256, 256, 3))
    qx, qy = (UNIT[1] % 2) * 128, (UNIT[2] % 2) * 128
    parent[:] = own.mean((0, 1))  # the sibling quadrants: the same ground's mean tone
    parent[qy : qy + 128, qx : qx + 128] = own
    parent = np.clip(parent + 12.0 + checker, 0, 255).round().astype(np.uint8)

    exact, _ = _unit_under("carana-sr@0.9.0", parent)
    smooth, generator = _unit_under("carana-sr@0.10.0", parent)
    assert generator.parent_lock == "smooth"
    quadrant = parent[qy : qy + 128, qx : qx + 128].astype(np.float64)
    sign = checker[qy : qy + 128, qx : qx + 128] / 16.0
    inner = (slice(8, -8), slice(8, -8))

    def blocks(image: np.ndarray) -> np.ndarray:
        return image.reshape(128, 2, 128, 2, 3).mean((1, 3))

    assert np.abs(blocks(exact) - quadrant)[inner].mean() < 1.0
    assert abs(((blocks(exact) - own) * sign)[inner].mean() - 16.0) < 2.0
    carried = ((blocks(smooth) - own) * sign)[inner].mean()
    assert abs(carried) < 2.0, carried  # the checkerboard is not the unit's
    tone = (blocks(smooth) - own)[inner].mean()
    assert abs(tone - 12.0) < 2.0, tone  # the tone is
    # ... and the unit is its own render's detail, not the parent's pixels.
    unit_render = render[m:-m, m:-m]
    assert np.abs(smooth - unit_render).mean() < np.abs(exact - unit_render).mean()


def test_the_generator_reads_real_parent_pixels_from_parent_source() -> None:
    """carana-sr@0.10.0 weighs only the parent pixels ``parent_source`` says hold their own
    value: what the engine repeated into the margin (here: 10 columns) changes nothing."""
    from core.settings import WorkerSettings
    from core.world import DEFAULT_WORLD
    from worker.synthesis.generators import load_generator

    generator = load_generator(DEFAULT_WORLD.model, WorkerSettings())
    assert generator.parent_lock == "smooth"
    rng = np.random.default_rng(3)
    size = 40
    render_half = rng.uniform(60, 190, (size, size, 3))
    source = np.arange(size * size).reshape(size, size)
    source[:, :10] = source[:, 10:11]  # the first 10 columns repeat column 10

    class Request:
        parent_is_layout = False
        parent_source = source

    made = []
    for repeated in (0, 255):
        parent = np.clip(render_half + 20.0, 0, 255).round().astype(np.uint8)
        parent[:, :10] = repeated
        Request.parent = parent
        start = (np.zeros((size, size, 3), np.uint8), render_half, np.zeros(0))
        made.append(generator._parent(Request, start).numpy())  # type: ignore[arg-type]
    assert np.allclose(made[0][:, :, 10:], made[1][:, :, 10:], atol=1e-6)
    # ... and follows the real pixels' +20 tone right up to the repeated ones.
    tone = (made[0][:, :, 10:] + 1.0) * 127.5 - render_half.transpose(2, 0, 1)[:, :, 10:]
    assert np.abs(tone - 20.0).max() < 1.0
