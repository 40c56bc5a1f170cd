"""A tiny, randomly initialised Stable Diffusion inpainting pipeline (as diffusers' own tests
build them): small UNet, VAE and CLIP text encoder from configs, a CLIP tokenizer from a
handmade vocabulary. Nothing is downloaded. Its pictures are noise; its plumbing is real."""

from __future__ import annotations

import json
from pathlib import Path

LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789,.-"


def write_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """vocab.json and merges.txt of a character-level CLIP BPE (no merges)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in LETTERS:
        vocab[char] = len(vocab)
        vocab[f"{char}</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder / "vocab.json", folder / "merges.txt"


def build_tiny_inpaint_pipeline(out: Path, controlnet: bool = False, seed: int = 0) -> Path:
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionControlNetInpaintPipeline,
        StableDiffusionInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab, merges = write_tokenizer_files(out.parent / f".{out.name}-tokenizer")
    tokenizer = CLIPTokenizer(str(vocab), str(merges), model_max_length=32)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=16,
        in_channels=9,  # noisy latents 4 + masked-image latents 4 + mask 1
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[8, 16, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=16,
            intermediate_size=24,
            num_attention_heads=2,
            num_hidden_layers=1,
            vocab_size=len(json.loads(vocab.read_text())),
            max_position_embeddings=32,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    parts = dict(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if controlnet:
        # Takes the 4 noisy latent channels (not the inpainting UNet's 9); its control image
        # is downsampled 4x, to the latent grid of this VAE.
        controlnet_model = ControlNetModel(
            in_channels=4,
            block_out_channels=(16, 32),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            cross_attention_dim=16,
            attention_head_dim=8,
            norm_num_groups=8,
            conditioning_embedding_out_channels=(8, 8, 16),
        )
        pipeline = StableDiffusionControlNetInpaintPipeline(controlnet=controlnet_model, **parts)
    else:
        pipeline = StableDiffusionInpaintPipeline(**parts)
    pipeline.save_pretrained(out, safe_serialization=True)
    return out


TINY_CONFIG = {
    "kind": "diffusers-inpaint",
    "classes": ["water", "forest", "cropland", "grassland", "bare", "urban"],
    "steps": 3,
    "guidance_scale": 1.0,
    "strength": 0.8,
    "match_parent": True,
    "prompts": {
        "template": "satellite image of {landcover}, {gsd}",
        "negative": "",
        "classes": {
            "water": "sea",
            "forest": "forest",
            "cropland": "fields",
            "grassland": "grass",
            "bare": "rock",
            "urban": "town",
        },
    },
}
