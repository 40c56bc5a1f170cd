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
