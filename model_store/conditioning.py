"""How a super-resolution diffusion model sees a unit: the input channels and the residual.

Shared by training and sampling so the two can never disagree. Images are float tensors in
[-1, 1], shape (B, 3, H, W). The model denoises the *residual* ``target - parent_up`` (scaled),
conditioned on:

    parent_up (3)  the parent area upsampled to the canvas (at min_zoom: the layout render)
    known (3)      residual of the known neighbour pixels, zero elsewhere
    mask (1)       1 where pixels are known
    classes (K)    one-hot land-cover class map
    scale (1)      which ground resolution the canvas stands for (0 finest .. 1 coarsest)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from core.classes import CLASSES

NOISY_CHANNELS = 3
CONDITION_CHANNELS = 3 + 3 + 1 + len(CLASSES) + 1
IN_CHANNELS = NOISY_CHANNELS + CONDITION_CHANNELS


def upsample_parent(parent: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(parent, size=(size, size), mode="bilinear", align_corners=False)


def degrade(target: torch.Tensor) -> torch.Tensor:
    """The parent a target would have had: 2x area-downsampled, then upsampled back."""
    half = F.avg_pool2d(target, 2)
    return upsample_parent(half, target.shape[-1])


def one_hot_classes(class_map: torch.Tensor) -> torch.Tensor:
    """(B, H, W) integer class map -> (B, K, H, W) float one-hot."""
    return F.one_hot(class_map.long(), len(CLASSES)).permute(0, 3, 1, 2).float()


def condition(
    parent_up: torch.Tensor,
    known: torch.Tensor,
    mask: torch.Tensor,
    class_map: torch.Tensor,
    scale: torch.Tensor,
    residual_scale: float,
) -> torch.Tensor:
    """Stack the conditioning channels. ``known`` is RGB; it becomes a masked residual."""
    known_residual = (known - parent_up) * mask * residual_scale
    batch, _, height, width = parent_up.shape
    scale_plane = scale.view(batch, 1, 1, 1).expand(batch, 1, height, width)
    return torch.cat([parent_up, known_residual, mask, one_hot_classes(class_map), scale_plane], 1)


# How a unit's low frequencies are tied to its parent (conditioning.json ``parent_lock``):
# "exact" makes every 2x2 block mean equal the parent pixel (``match_parent``); "smooth"
# takes from the parent only what a Gaussian of ``parent_lock_sigma`` parent pixels keeps
# of its difference from the unit's own render (``smooth_parent``).
PARENT_LOCKS = ("exact", "smooth")


def smooth_parent(
    parent: torch.Tensor, render_half: torch.Tensor, real: torch.Tensor, sigma: float
) -> torch.Tensor:
    """The parent as a render-drawing unit follows it under the smooth lock: the render's
    own half plus the low frequencies of the parent's difference from it.

    Why: with the exact lock a zoom's block means are its parent's pixels, and so, zoom
    after zoom, the pixels of the coarsest zoom; a renderer's zoom z - 1 is never exactly
    the mean of its zoom z (PSNR 32-35 dB on carana-v8), so what each zoom differs by
    piles up as a blocky field at every power-of-two grid of the tiles, strongest at their
    borders (a z14 mosaic: 10 levels of luminance off its own render, seam ratio 1.10
    where the render alone has 0.996). The difference's low frequencies still hold the
    zoom above (no drift); its pixel-level part, what the renderer draws differently at
    two footprints, is left to the finer render.

    ``parent`` and ``render_half`` are (B, 3, H, W) on the parent grid; ``real`` (B, 1, H, W)
    is 1 where the parent pixel is real (the parent unit, its known neighbours) and 0 where
    the canvas only repeats one: the Gaussian is normalised over real pixels, so a margin
    the zoom above has not drawn yet does not pull the unit's edge to one repeated pixel.
    """
    radius = max(1, math.ceil(3.0 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=parent.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()

    def blur(image: torch.Tensor) -> torch.Tensor:
        channels = image.shape[1]
        across = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
        down = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
        image = F.conv2d(image, across, padding=(0, radius), groups=channels)
        return F.conv2d(image, down, padding=(radius, 0), groups=channels)

    weight = blur(real)
    difference = blur((parent - render_half) * real) / weight.clamp_min(1e-6)
    return render_half + difference


def match_parent(
    image: torch.Tensor,
    parent_half: torch.Tensor,
    iterations: int = 3,
    keep: torch.Tensor | None = None,
    keep_values: torch.Tensor | None = None,
) -> torch.Tensor:
    """Make the 2x area-downsample of ``image`` equal the parent (low frequencies come from
    the parent): fixes colour drift and makes zooming in a refinement by construction.
    Pixels under ``keep`` (known neighbours) stay ``keep_values``."""
    for _ in range(iterations):
        correction = parent_half - F.avg_pool2d(image, 2)
        image = image + upsample_parent(correction, image.shape[-1])
        if keep is not None:
            image = keep * keep_values + (1 - keep) * image
    return image
