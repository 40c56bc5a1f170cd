"""Per-unit generation time of a world's model, and throughput against batch size.

    python benchmarks/bench_generation.py [--world carana] [--units 10] [--device cpu]
    python benchmarks/bench_generation.py --device cuda --batch-sizes 1,8,32,64,128

CPU: the median wall time of warm single-unit generations (conditioning, sampling, PNG,
store), each unit's dependencies already generated. CUDA: units (tiles) per second of the
sampler alone against batch size, on synthetic conditioning of the real canvas size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from core.settings import WorkerSettings, WorldSettings
from core.store import FileTileStore
from core.units import UnitKey
from core.world import WorldCatalog
from worker.evaluation.mosaics import random_places, region_at
from worker.synthesis.generators import load_generator
from worker.synthesis.producer import UnitProducer


def single_unit_times(world, settings: WorkerSettings, count: int) -> list[float]:
    generator = load_generator(world.model, settings)
    with tempfile.TemporaryDirectory() as tmp:
        producer = UnitProducer(FileTileStore(Path(tmp)), lambda _w: generator)
        zoom = min(world.min_zoom + 2, world.max_zoom)
        # A random place on land (an island world's extent is mostly sea, which is cheap).
        lon, lat = random_places(world, 1, seed=3)[0]
        region = region_at(world, lon, lat, zoom, 1)
        targets = [
            UnitKey(
                world.id, zoom, (region.x0 + i) // world.unit_size, region.y0 // world.unit_size
            )
            for i in range(count + 1)
        ]
        times = []
        for target in targets:
            for wave in producer.plan(world, [target]):
                for unit in wave:
                    started = time.perf_counter()
                    producer.generate(world, [unit])
                    times.append(time.perf_counter() - started)
        return times[1:]  # the first includes warm-up


def batch_throughput(world, settings: WorkerSettings, batch_sizes: list[int]) -> None:
    import numpy as np

    from worker.synthesis.engine import UnitRequest

    generator = load_generator(world.model, settings)
    generator.batch_on_device = True
    size = world.tile_size * world.unit_size + 2 * world.canvas_margin
    rng = np.random.default_rng(0)

    def request(i: int) -> UnitRequest:
        return UnitRequest(
            unit=UnitKey(world.id, world.min_zoom + 2, i, 0),
            seed=i,
            zoom=world.min_zoom + 2,
            tile_size=world.tile_size,
            unit_px=size - 2 * world.canvas_margin,
            margin=world.canvas_margin,
            parent=rng.integers(0, 255, (size // 2, size // 2, 3), np.uint8),
            parent_is_layout=False,
            known=np.zeros((size, size, 3), np.uint8),
            known_mask=np.zeros((size, size), bool),
            layout=np.full((size, size), 3, np.uint8),
            canvas_left=i * size,
            canvas_top=0,
            world_seed=world.seed,
        )

    print(f"{'batch':>6}{'tiles/s':>10}{'s/batch':>10}")
    for batch in batch_sizes:
        requests = [request(i) for i in range(batch)]
        generator.generate(requests)  # warm-up
        if settings.device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        rounds = 3
        for _ in range(rounds):
            generator.generate(requests)
        if settings.device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed = (time.perf_counter() - started) / rounds
        tiles = batch * world.unit_size**2
        print(f"{batch:>6}{tiles / elapsed:>10.1f}{elapsed:>10.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world")
    parser.add_argument("--units", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", help="comma list: measure batch throughput instead")
    args = parser.parse_args()
    world_settings = WorldSettings()
    catalog = WorldCatalog.load(world_settings.worlds_file, world_settings.default_world)
    world = catalog.get(args.world or catalog.default_id)
    settings = WorkerSettings(device=args.device)
    print(
        f"world {world.id}, model {world.model}, device {args.device}, "
        f"torch threads {torch.get_num_threads()}, canvas margin {world.canvas_margin}"
    )
    if args.batch_sizes:
        batch_throughput(world, settings, [int(b) for b in args.batch_sizes.split(",")])
        return 0
    times = single_unit_times(world, settings, args.units)
    print(
        f"warm single-unit generations: n={len(times)}, median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s per unit of {world.unit_size}x"
        f"{world.unit_size} tile(s) (target <= 3 s per tile on the 2-core CPU)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
