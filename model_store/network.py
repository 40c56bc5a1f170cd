"""The denoiser: a small, fully convolutional diffusers UNet2DModel (no attention), so it
trains on small crops and samples on larger canvases."""

from __future__ import annotations

from typing import Any

from diffusers import UNet2DModel

from model_store.conditioning import IN_CHANNELS


def unet_config(
    widths: tuple[int, ...] = (32, 64, 96), layers_per_block: int = 1
) -> dict[str, Any]:
    return {
        "sample_size": 64,
        "in_channels": IN_CHANNELS,
        "out_channels": 3,
        "layers_per_block": layers_per_block,
        "block_out_channels": list(widths),
        "down_block_types": ["DownBlock2D"] * len(widths),
        "up_block_types": ["UpBlock2D"] * len(widths),
        "norm_num_groups": 8,
        "add_attention": False,
    }


def build_unet(config: dict[str, Any]) -> UNet2DModel:
    return UNet2DModel(**config)
