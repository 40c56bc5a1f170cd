"""Few-step DDIM sampling of the super-resolution residual, with neighbour inpainting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler, UNet2DModel

from model_store.conditioning import condition, match_parent, upsample_parent


@dataclass
class SamplingInputs:
    """One batch on one canvas size; every tensor in [-1, 1] unless said otherwise."""

    parent_half: torch.Tensor  # (B, 3, S/2, S/2): parent area at its own resolution
    known: torch.Tensor  # (B, 3, S, S) known RGB, anything where mask == 0
    mask: torch.Tensor  # (B, 1, S, S) 1 where known
    class_map: torch.Tensor  # (B, S, S) int
    scale: torch.Tensor  # (B,)
    seeds: Sequence[int]  # one noise seed per item: noise never depends on batch-mates
    # SDEdit start (Meng et al. 2022): a residual to noise to level ``strength`` and denoise
    # from there, instead of starting from pure noise. None: start from noise.
    init_residual: torch.Tensor | None = None  # (B, 3, S, S), already residual-scaled
    strength: float = 1.0
    # The exact lock (``match_parent``: every 2x2 block mean is the parent's pixel); False
    # under the smooth lock, whose ``parent_half`` already holds what the unit keeps of it.
    exact_lock: bool = True


@torch.no_grad()
def sample(
    unet: UNet2DModel,
    scheduler: DDIMScheduler,
    inputs: SamplingInputs,
    steps: int,
    residual_scale: float,
) -> torch.Tensor:
    """(B, 3, S, S) images in [-1, 1]."""
    device = next(unet.parameters()).device
    size = inputs.known.shape[-1]
    parent_half = inputs.parent_half.to(device)
    parent_up = upsample_parent(parent_half, size)
    mask = inputs.mask.to(device)
    known_residual = (inputs.known.to(device) - parent_up) * residual_scale
    cond = condition(
        parent_up,
        inputs.known.to(device),
        mask,
        inputs.class_map.to(device),
        inputs.scale.to(device),
        residual_scale,
    )

    # Per-item generators: the same item gets the same noise whatever it is batched with.
    noise, known_noise = [], []
    for seed in inputs.seeds:
        generator = torch.Generator().manual_seed(int(seed))
        noise.append(torch.randn((3, size, size), generator=generator))
        known_noise.append(torch.randn((3, size, size), generator=generator))
    noise_t = torch.stack(noise).to(device)
    known_noise_t = torch.stack(known_noise).to(device)

    if steps == 0:
        # No learned step: the start (the texture render's detail band) is the residual,
        # with the known neighbours' own residual where they lie.
        if inputs.init_residual is None:
            raise ValueError("sampling without steps needs a start (a texture prior)")
        x = inputs.init_residual.to(device)
        x = mask * known_residual + (1 - mask) * x
        return _compose(parent_up, x, residual_scale, inputs, mask, parent_half, device)
    scheduler.set_timesteps(steps, device=device)
    timesteps = scheduler.timesteps
    if inputs.init_residual is None:
        x = noise_t * scheduler.init_noise_sigma
    else:
        # As diffusers' img2img: run the last round(steps * strength) steps only.
        kept = max(1, min(steps, round(steps * inputs.strength)))
        timesteps = timesteps[steps - kept :]
        x = scheduler.add_noise(inputs.init_residual.to(device), noise_t, timesteps[:1])
    for index, t in enumerate(timesteps):
        if mask.any():
            # Known pixels enter at the current noise level (RePaint-style replacement).
            noised_known = scheduler.add_noise(known_residual, known_noise_t, t.reshape(1))
            x = mask * noised_known + (1 - mask) * x
        velocity = unet(torch.cat([x, cond], 1), t).sample
        x = scheduler.step(velocity, t, x, eta=0.0).prev_sample
        if index == len(timesteps) - 1:
            break
    return _compose(parent_up, x, residual_scale, inputs, mask, parent_half, device)


def _compose(
    parent_up: torch.Tensor,
    x: torch.Tensor,
    residual_scale: float,
    inputs: SamplingInputs,
    mask: torch.Tensor,
    parent_half: torch.Tensor,
    device: torch.device,
) -> torch.Tensor:
    """The image from its residual: known neighbours composited, low frequencies the
    parent's."""
    image = parent_up + x / residual_scale
    # Known pixels go in before the low-frequency projection, so the correction is ~0 along
    # them and the unit meets its neighbours without a step (they are composited exactly
    # again afterwards, in pixel space).
    known = inputs.known.to(device)
    image = mask * known + (1 - mask) * image
    if not inputs.exact_lock:
        return image.clamp(-1, 1)
    return match_parent(image, parent_half, keep=mask, keep_values=known).clamp(-1, 1)
