"""`synthtiles train`: teach a small UNet to add detail to a 2x-upsampled parent.

Diffusers UNet2DModel + DDPMScheduler (v-prediction), EMA weights, AdamW, bf16 autocast on
CUDA, checkpoints every N steps with resume, a sample grid per checkpoint, a progress bar with
loss and throughput. The result is a model folder the registry can add.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.training_utils import EMAModel
from PIL import Image
from tqdm import tqdm

from core.classes import CLASSES
from model_store.chips import ChipFilter, PairSampler, load_labels, load_sources
from model_store.conditioning import condition
from model_store.kinds.sr_residual import INPUTS
from model_store.network import build_unet, unet_config
from model_store.sampling import SamplingInputs, sample


@dataclass
class TrainConfig:
    data: Path
    work_dir: Path
    labels_csv: Path | None = None
    label_rule: str | None = None
    default_class: str = "grassland"
    crop: int = 64
    levels: int = 3
    batch_size: int = 24
    steps: int = 1500
    learning_rate: float = 3e-4
    ema_decay: float = 0.995
    checkpoint_every: int = 250
    seed: int = 0
    widths: tuple[int, ...] = (32, 64, 64)
    residual_scale: float = 4.0
    sample_steps: int = 8
    device: str = "cpu"
    max_black_fraction: float = 0.0005
    max_white_fraction: float = 0.0005
    max_minutes: float | None = None  # stop (and save) after this much wall time
    extra: dict = field(default_factory=dict)


def scheduler_config() -> dict:
    return {
        "num_train_timesteps": 1000,
        "beta_schedule": "squaredcos_cap_v2",
        "prediction_type": "v_prediction",
        "clip_sample": False,
    }


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a cut-off run never leaves a torn checkpoint


def _sample_grid(unet, config: TrainConfig, batch, path: Path) -> None:
    """Rows: parent (upsampled) | sample | real, for a fixed validation batch."""
    scheduler = DDIMScheduler.from_config(scheduler_config())
    inputs = SamplingInputs(
        parent_half=F.avg_pool2d(batch.target, 2),
        known=batch.known,
        mask=batch.mask,
        class_map=batch.class_map,
        scale=batch.scale,
        seeds=list(range(len(batch.target))),
    )
    unet.eval()
    images = sample(unet, scheduler, inputs, config.sample_steps, config.residual_scale)
    unet.train()
    rows = [batch.parent_up, images.cpu(), batch.target]
    grid = torch.cat([torch.cat(list(row), 2) for row in rows], 1)
    array = ((grid.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
    Image.fromarray(array).save(path)


def train(config: TrainConfig) -> Path:
    """Train (or resume) in ``work_dir``; returns the folder of the finished model."""
    torch.manual_seed(config.seed)
    work = config.work_dir
    work.mkdir(parents=True, exist_ok=True)
    device = torch.device(config.device)
    labels = load_labels(config.data, config.labels_csv, config.label_rule)
    chip_filter = ChipFilter(config.max_black_fraction, config.max_white_fraction)
    sources = load_sources(
        config.data, labels, config.crop, config.levels, config.default_class, chip_filter
    )
    sampler = PairSampler(sources, config.crop, config.levels, seed=config.seed)
    validation = PairSampler(sources, config.crop, config.levels, seed=10_000).sample(8)

    unet_conf = unet_config(tuple(config.widths))
    unet = build_unet(unet_conf).to(device)
    ema = EMAModel(unet.parameters(), decay=config.ema_decay)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    noise_scheduler = DDPMScheduler(**scheduler_config())

    checkpoint_path = work / "checkpoint.pt"
    step, losses = 0, []
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        step, losses = state["step"], state["losses"]
        sampler.rng = np.random.default_rng(config.seed + step)
        print(f"resumed from step {step}")
    ema.to(device)

    started = time.monotonic()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    progress = tqdm(total=config.steps, initial=step, unit="step", dynamic_ncols=True)
    unet.train()
    while step < config.steps:
        batch = sampler.sample(config.batch_size)
        target = batch.target.to(device)
        parent_up = batch.parent_up.to(device)
        residual = (target - parent_up) * config.residual_scale
        noise = torch.randn_like(residual)
        t = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (len(target),), device=device
        )
        noisy = noise_scheduler.add_noise(residual, noise, t)
        cond = condition(
            parent_up,
            batch.known.to(device),
            batch.mask.to(device),
            batch.class_map.to(device),
            batch.scale.to(device),
            config.residual_scale,
        )
        with autocast:
            prediction = unet(torch.cat([noisy, cond], 1), t).sample
        loss = F.mse_loss(prediction.float(), noise_scheduler.get_velocity(residual, noise, t))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        ema.step(unet.parameters())
        step += 1
        losses.append(float(loss.detach()))
        progress.update(1)
        rate = progress.format_dict.get("rate") or 0.0
        progress.set_postfix(
            loss=f"{np.mean(losses[-50:]):.4f}", img_s=f"{rate * config.batch_size:.1f}"
        )
        out_of_time = (
            config.max_minutes is not None and time.monotonic() - started > config.max_minutes * 60
        )
        if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
            _save_checkpoint(
                checkpoint_path,
                {
                    "unet": unet.state_dict(),
                    "ema": ema.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "losses": losses,
                },
            )
            with_ema = build_unet(unet_conf).to(device)
            ema.copy_to(with_ema.parameters())
            _sample_grid(with_ema, config, validation, work / f"samples-{step:06d}.png")
        if out_of_time:
            print(f"stopping at step {step}: --max-minutes reached")
            break
    progress.close()
    return _export(config, unet_conf, ema, step, losses, time.monotonic() - started, sources)


def _export(config, unet_conf, ema, step, losses, seconds, sources) -> Path:
    """Write the EMA weights as a diffusers model folder with its configs."""
    final = config.work_dir / "final"
    unet = build_unet(unet_conf)
    ema.to("cpu")
    ema.copy_to(unet.parameters())
    unet.save_pretrained(final / "unet", safe_serialization=True)
    DDIMScheduler.from_config(scheduler_config()).save_pretrained(final / "scheduler")
    (final / "conditioning.json").write_text(
        json.dumps(
            {
                "kind": "super-resolution-residual",
                "classes": list(CLASSES),
                "residual_scale": config.residual_scale,
                "levels": config.levels,
                "steps": config.sample_steps,
                "inputs": INPUTS,
            },
            indent=2,
        )
    )
    (final / "training.json").write_text(
        json.dumps(
            {
                "config": {
                    k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()
                },
                "steps": step,
                "final_loss": float(np.mean(losses[-100:])) if losses else None,
                "seconds": round(seconds, 1),
                "device": config.device,
                "sources": len(sources),
                "parameters": sum(p.numel() for p in unet.parameters()),
            },
            indent=2,
        )
    )
    return final
