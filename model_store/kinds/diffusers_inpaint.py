"""``diffusers-inpaint``: any local diffusers inpainting pipeline folder (Stable Diffusion or
SDXL inpainting, optionally with a ControlNet) used as a world's model.

The folder is what ``save_pretrained`` writes (``model_index.json`` naming the pipeline class
and its component folders) plus this project's ``conditioning.json``: prompts per land-cover
class and zoom, steps, guidance and strength. Nothing is downloaded: the pipeline is loaded
with ``local_files_only`` and its files were hashed into the manifest when added.
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

# Pipelines whose call takes (prompt, image, mask_image[, control_image]) as the generator
# uses them; the ControlNet ones are given a rendering of the world plan.
PIPELINES = {
    "StableDiffusionInpaintPipeline": False,
    "StableDiffusionXLInpaintPipeline": False,
    "StableDiffusionControlNetInpaintPipeline": True,
    "StableDiffusionXLControlNetInpaintPipeline": True,
}

# Weights' precision on a GPU (part of how a world looks, so fixed by the model's config);
# on a CPU always float32.
DTYPES = ("float32", "float16", "bfloat16")

DEFAULT_PROMPTS = {
    "template": "satellite image, top-down orthophoto of {landcover}, {gsd} per pixel",
    "negative": "clouds, text, watermark, map labels, blurry, people, oblique view",
    "classes": {
        "water": "open water, sea or lake",
        "forest": "dense tropical forest",
        "cropland": "smallholder farmland with field patches",
        "grassland": "savanna grassland with scattered trees",
        "bare": "bare soil and rock",
        "urban": "town with roofs and streets",
    },
    # Extra words by zoom ("14": "...") for models that know ground resolutions.
    "zooms": {},
}


@dataclass
class LoadedPipeline:
    entry: ModelEntry
    pipeline: Any  # a diffusers inpainting pipeline
    config: dict[str, Any]
    uses_controlnet: bool


def _pipeline_class(folder: Path) -> str:
    index = json.loads((folder / "model_index.json").read_text())
    return str(index.get("_class_name"))


class DiffusersInpaint:
    name = "diffusers-inpaint"
    generator = "worker.synthesis.generators.inpaint:InpaintGenerator"
    required_files = ("model_index.json", "conditioning.json")

    def default_config(self, source: Path) -> dict[str, Any]:
        if not (source / "model_index.json").is_file():
            raise ModelError(
                f"{source} has no model_index.json: give the folder a diffusers pipeline's "
                "save_pretrained() wrote (e.g. a downloaded Stable Diffusion inpainting model)"
            )
        return {
            "kind": self.name,
            "classes": list(CLASSES),
            "steps": 25,
            "guidance_scale": 7.5,
            # SDEdit strength from the upsampled parent (1.0 at the world's min zoom).
            "strength": 0.75,
            "controlnet_conditioning_scale": 1.0,
            "match_parent": True,
            "dtype": "float16",
            "prompts": DEFAULT_PROMPTS,
        }

    def validate(self, folder: Path, config: dict[str, Any]) -> None:
        pipeline = _pipeline_class(folder)
        if pipeline not in PIPELINES:
            raise ModelError(
                f"{folder}: pipeline {pipeline!r} is not an inpainting pipeline this version "
                f"can drive (known: {', '.join(PIPELINES)})"
            )
        require_classes(folder, config, "prompts are for")
        prompts = config.get("prompts")
        if not isinstance(prompts, dict) or "{landcover}" not in str(prompts.get("template")):
            raise ModelError(f"{folder}: prompts.template must contain {{landcover}}")
        missing = [c for c in CLASSES if c not in prompts.get("classes", {})]
        if missing:
            raise ModelError(f"{folder}: prompts.classes has no words for {missing}")
        steps = config.get("steps")
        if not isinstance(steps, int) or not 1 <= steps <= 200:
            raise ModelError(f"{folder}: steps must be an integer 1-200, got {steps!r}")
        strength = config.get("strength")
        if not isinstance(strength, int | float) or not 0 < strength <= 1:
            raise ModelError(f"{folder}: strength must be in (0, 1], got {strength!r}")
        if not isinstance(config.get("guidance_scale"), int | float):
            raise ModelError(f"{folder}: guidance_scale must be a number")
        if config.get("dtype", "float32") not in DTYPES:
            raise ModelError(f"{folder}: dtype must be one of {DTYPES}, got {config['dtype']!r}")

    def load(self, entry: ModelEntry, device: str) -> LoadedPipeline:
        import diffusers

        pipeline_class = _pipeline_class(entry.path)
        cls = getattr(diffusers, pipeline_class)
        index = json.loads((entry.path / "model_index.json").read_text())
        extra: dict[str, Any] = {}
        if "safety_checker" in index:
            # Imagery of fictional places: no safety checker (and nothing to fetch for it).
            extra.update(safety_checker=None, requires_safety_checker=False)
        if device != "cpu":
            import torch

            extra["torch_dtype"] = getattr(torch, entry.conditioning.get("dtype", "float32"))
        pipeline = cls.from_pretrained(entry.path, local_files_only=True, **extra)
        pipeline.set_progress_bar_config(disable=True)
        pipeline = pipeline.to(device)
        return LoadedPipeline(entry, pipeline, entry.conditioning, PIPELINES[pipeline_class])
