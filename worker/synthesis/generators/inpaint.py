"""The generator for ``diffusers-inpaint`` models: a diffusers inpainting pipeline fills the
unit's canvas around the known neighbour pixels, following the parent and the world plan.

How the world contract maps onto the pipeline's inputs:

- ``image``: the known neighbour pixels, and elsewhere the parent upsampled (at the world's
  min zoom: the layout render). At finer zooms the pipeline starts from that image
  noised to ``strength`` (SDEdit), so the parent's shapes carry into the child.
- ``mask_image``: white where the canvas is to be generated, black over known pixels.
- ``prompt``: the template with the words of the unit's main land-cover class and the
  ground resolution of its zoom; ``negative_prompt`` from the config.
- ``generator``: a CPU torch.Generator seeded with the unit's seed (from world, z, x, y), so
  the noise is the same on any device; units go through the pipeline one at a time, so a
  tile never depends on what it was queued with.
- ``control_image`` (ControlNet pipelines): the world plan drawn as a map (``plan_map``).

Afterwards the known pixels are put back exactly (a latent model's VAE does not reproduce
them), and, away from the min zoom, the 2x-downsample is matched to the parent so low
frequencies come from the zoom above, as with every other model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from core.classes import CLASSES
from core.layout import plan_map
from model_store.conditioning import match_parent, upsample_parent
from model_store.kinds.diffusers_inpaint import LoadedPipeline
from worker.synthesis.engine import UnitRequest
from worker.synthesis.generators.base import GeneratorOptions, to_image, to_tensor

EQUATOR_M_PER_PX = 156543.03392804097  # Web-Mercator metres per pixel at zoom 0, 256-px tiles


def ground_resolution(zoom: int, tile_size: int) -> str:
    metres = EQUATOR_M_PER_PX * 256 / tile_size / 2**zoom
    return f"{metres:.1f} m" if metres < 10 else f"{metres:.0f} m"


class PromptBook:
    """Prompts per land-cover class and zoom, from the model's conditioning.json."""

    def __init__(self, prompts: dict) -> None:
        self.template: str = prompts["template"]
        self.negative: str = prompts.get("negative", "")
        self.classes: dict[str, str] = prompts["classes"]
        self.zooms: dict[str, str] = prompts.get("zooms", {})

    def prompt(self, landcover: str, zoom: int, tile_size: int) -> str:
        text = self.template.format(
            landcover=self.classes[landcover], gsd=ground_resolution(zoom, tile_size)
        )
        extra = self.zooms.get(str(zoom))
        return f"{text}, {extra}" if extra else text


def main_class(request: UnitRequest) -> str:
    """The commonest class over the unit itself (not its margin)."""
    m = request.margin
    unit = request.layout[m : m + request.unit_px, m : m + request.unit_px]
    counts = np.bincount(unit.ravel().astype(np.int64), minlength=len(CLASSES))
    return CLASSES[int(counts.argmax())]


class InpaintGenerator:
    # Generated pixels meet known ones through a VAE: soften the join (the engine does it).
    feather_borders = True
    parent_margin = "edge"

    def __init__(self, model: LoadedPipeline, options: GeneratorOptions | None = None) -> None:
        options = options or GeneratorOptions()
        self.model = model
        self.model_id = model.entry.id
        self.device = options.device
        config = model.config
        self.pipeline = model.pipeline
        self.prompts = PromptBook(config["prompts"])
        self.steps = options.steps or int(config["steps"])
        self.guidance_scale = float(config["guidance_scale"])
        self.strength = float(config["strength"])
        self.match_parent = bool(config.get("match_parent", True))
        self.controlnet_scale = float(config.get("controlnet_conditioning_scale", 1.0))
        scale = getattr(self.pipeline, "vae_scale_factor", 8)
        # The UNet halves the latent once per down block but the last.
        blocks = len(self.pipeline.unet.config.block_out_channels)
        self.multiple = int(scale) * 2 ** (blocks - 1)

    def _start_image(self, request: UnitRequest) -> tuple[np.ndarray, torch.Tensor]:
        size = request.canvas_px
        parent_half = to_tensor(request.parent)[None]
        parent_up = to_image(upsample_parent(parent_half, size)[0])
        known = request.known_mask[..., None]
        return np.where(known, request.known, parent_up), parent_half

    def _one(self, request: UnitRequest) -> np.ndarray:
        size = request.canvas_px
        if size % self.multiple:
            raise ValueError(
                f"canvas {size} px is not a multiple of {self.multiple} (the pipeline's latent "
                "grid): choose a world canvas_margin that makes it one"
            )
        image, parent_half = self._start_image(request)
        mask = np.where(request.known_mask, 0, 255).astype(np.uint8)
        kwargs = {}
        if self.model.uses_controlnet:
            kwargs["control_image"] = Image.fromarray(plan_map(request.layout, request.plan))
            kwargs["controlnet_conditioning_scale"] = self.controlnet_scale
        result = self.pipeline(
            prompt=self.prompts.prompt(main_class(request), request.zoom, request.tile_size),
            negative_prompt=self.prompts.negative or None,
            image=Image.fromarray(image),
            mask_image=Image.fromarray(mask),
            height=size,
            width=size,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale,
            strength=1.0 if request.parent_is_layout else self.strength,
            generator=torch.Generator(device="cpu").manual_seed(int(request.seed)),
            output_type="np",
            **kwargs,
        ).images[0]
        generated = torch.from_numpy(np.asarray(result, np.float32) * 2 - 1).permute(2, 0, 1)[None]
        keep = torch.from_numpy(request.known_mask[None, None].astype(np.float32))
        known = to_tensor(request.known)[None]
        if self.match_parent and not request.parent_is_layout:
            generated = match_parent(generated, parent_half, keep=keep, keep_values=known)
        generated = keep * known + (1 - keep) * generated
        return to_image(generated[0])

    @torch.no_grad()
    def generate(self, requests: Sequence[UnitRequest]) -> list[np.ndarray]:
        return [self._one(request) for request in requests]
