"""diffusers-inpaint models: seconds per unit and seam ratio of a 3x3 block, and pipeline
throughput against batch size, for a tiny random pipeline (or a registered one).

    python benchmarks/bench_inpaint.py                       # tiny pipeline, CPU
    python benchmarks/bench_inpaint.py --device cuda --dtype bfloat16 --batch-sizes 1,8,32,64
    python benchmarks/bench_inpaint.py --model sd-inpaint@1.0 --models-dir /models --device cuda

The block goes through the world engine (parents, neighbours, known pixels, feathering),
one unit per pipeline call as served. The batch figures call the pipeline itself with N
canvases at once: what a batching worker could reach, not what serving does today (a
batched latent model's pixels depend on their batch-mates; see issue 12).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import WorkerSettings
from core.store import FileTileStore
from core.units import UnitKey
from core.world import World
from model_store.registry import ModelRegistry
from tests.tiny_inpaint import TINY_CONFIG, build_tiny_inpaint_pipeline
from worker.evaluation.world import Region, read_mosaic, seam_ratio
from worker.synthesis.generators import load_generator
from worker.synthesis.producer import UnitProducer


def block(generator, model: str, margin: int, store: Path) -> tuple[float, float]:
    world = World(
        id="bench",
        seed=7,
        model=model,
        min_zoom=6,
        max_zoom=8,
        extent=(-6.0, -6.0, 6.0, 6.0),
        canvas_margin=margin,
    )
    producer = UnitProducer(FileTileStore(store), lambda _world: generator)
    started = time.perf_counter()
    made = producer.produce(world, [UnitKey("bench", 7, 63 + i % 3, 63 + i // 3) for i in range(9)])
    seconds = (time.perf_counter() - started) / len(made)
    mosaic = read_mosaic(world, store, Region(7, 63, 63, 3, 3))
    return seconds, seam_ratio(mosaic, 256)


def batch_throughput(pipeline, size: int, batch_sizes: list[int], steps: int) -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8))
    mask = np.full((size, size), 255, np.uint8)
    mask[:, :32] = 0
    mask_image = Image.fromarray(mask)
    for batch in batch_sizes:
        kwargs = dict(
            prompt=["satellite image of forest"] * batch,
            image=[image] * batch,
            mask_image=[mask_image] * batch,
            height=size,
            width=size,
            num_inference_steps=steps,
            guidance_scale=1.0,
            generator=[torch.Generator().manual_seed(i) for i in range(batch)],
            output_type="np",
        )
        pipeline(**kwargs)  # warm-up
        if pipeline.device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        pipeline(**kwargs)
        if pipeline.device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
        print(f"  batch {batch:3d}: {batch / elapsed:7.2f} canvases/s ({steps} steps, {size} px)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a registered diffusers-inpaint model (default: tiny)")
    parser.add_argument("--models-dir", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--margin", type=int, default=16, help="world canvas_margin")
    parser.add_argument("--batch-sizes", default="1,2,4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        models_dir, model = args.models_dir, args.model
        if model is None:
            models_dir, model = tmp_path / "models", "tiny-inpaint@0.1.0"
            source = build_tiny_inpaint_pipeline(tmp_path / "tiny")
            ModelRegistry([models_dir]).add(source, model, config=TINY_CONFIG)
        generator = load_generator(model, WorkerSettings(models_dir=models_dir, device=args.device))
        if args.dtype != "float32":
            generator.pipeline.to(dtype=getattr(torch, args.dtype))
        seconds, seams = block(generator, model, args.margin, tmp_path / "store")
        print(
            f"{model} on {args.device} ({args.dtype}): {seconds:.2f} s/unit through the "
            f"engine, 3x3 block seam ratio {seams:.3f} (1.0 = no visible seam)"
        )
        sizes = [int(b) for b in args.batch_sizes.split(",")]
        batch_throughput(generator.pipeline, 256 + 2 * args.margin, sizes, generator.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
