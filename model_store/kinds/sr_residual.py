"""``super-resolution-residual``: this project's own models (a diffusers UNet2DModel that
denoises the residual over the upsampled parent, plus a DDIM scheduler; see conditioning.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.classes import CLASSES
from model_store.errors import ModelError
from model_store.kinds.base import require_classes

if TYPE_CHECKING:
    from model_store.registry import ModelEntry

INPUTS = [
    "noisy_residual:3",
    "parent_up:3",
    "known_residual:3",
    "mask:1",
    f"classes:{len(CLASSES)}",
    "scale:1",
]


@dataclass
class LoadedModel:
    entry: ModelEntry
    unet: Any  # diffusers.UNet2DModel
    scheduler: Any  # diffusers.DDIMScheduler
    conditioning: dict[str, Any]


class SuperResolutionResidual:
    name = "super-resolution-residual"
    generator = "worker.synthesis.generators.diffusion:DiffusionGenerator"
    required_files = (
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "scheduler/scheduler_config.json",
        "conditioning.json",
    )

    def default_config(self, source: Path) -> dict[str, Any]:
        raise ModelError(
            f"{source} has no conditioning.json: a {self.name} model is written by "
            "`synthtiles train`, which records how it was trained"
        )

    def validate(self, folder: Path, config: dict[str, Any]) -> None:
        # torch-heavy modules: imported when a model is checked, not when kinds are listed.
        from model_store.conditioning import IN_CHANNELS
        from model_store.texture_prior import RENDERERS

        require_classes(folder, config, "trained on")
        if config.get("inputs") != INPUTS:
            raise ModelError(f"{folder}: inputs {config.get('inputs')} are not {INPUTS}")
        if not isinstance(config.get("residual_scale"), int | float):
            raise ModelError(f"{folder}: conditioning.json has no residual_scale")
        prior = config.get("texture_prior")
        if prior is not None and prior.get("renderer", 1) not in RENDERERS:
            raise ModelError(
                f"{folder}: its texture prior is drawn by renderer {prior.get('renderer')}, "
                f"this version has renderers {list(RENDERERS)}"
            )
        if config.get("learned_step") is False and prior is None:
            raise ModelError(
                f"{folder}: learned_step false needs a texture prior to draw the detail from"
            )
        unet_config = json.loads((folder / "unet" / "config.json").read_text())
        if unet_config.get("in_channels") != IN_CHANNELS:
            raise ModelError(
                f"{folder}: the UNet takes {unet_config.get('in_channels')} input channels, "
                f"the conditioning makes {IN_CHANNELS}"
            )

    def load(self, entry: ModelEntry, device: str) -> LoadedModel:
        from diffusers import DDIMScheduler, UNet2DModel

        unet = UNet2DModel.from_pretrained(
            entry.path / "unet", local_files_only=True, low_cpu_mem_usage=False
        )
        scheduler = DDIMScheduler.from_pretrained(entry.path / "scheduler", local_files_only=True)
        return LoadedModel(entry, unet.to(device).eval(), scheduler, entry.conditioning)
