"""Peak memory of writing a large COG export (what an export worker holds).

    python benchmarks/bench_export_memory.py [--mpx 88]

Fills a file store with noise tiles (they compress like imagery, not like a flat colour)
for a bbox of about --mpx megapixels at zoom 16, then writes the COG in a fresh child
process and prints its peak resident memory and the file's size.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.export import store_reader, write_export
from core.exports import plan_export
from core.png import encode_plain
from core.store import FileTileStore
from core.world import WorldCatalog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cached_tiles import BENCH_WORLD


def write(world_file: Path, store_root: Path, bbox: tuple, out: Path, queue) -> None:
    world = WorldCatalog.load(world_file, "bench").default
    plan = plan_export(world, bbox, "cog", 16, 16, 10**9)
    started = time.perf_counter()
    write_export(plan, store_reader(FileTileStore(store_root), world.id), out, "bench")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((plan.width, plan.height, time.perf_counter() - started, peak_mb))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mpx", type=float, default=88.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="synthtiles-export-bench-"))
    try:
        world_file = tmp / "worlds.toml"
        world_file.write_text(BENCH_WORLD)
        world = WorldCatalog.load(world_file, "bench").default
        side_deg = math.sqrt(args.mpx * 1e6) * 360 / (256 * 2**16)  # near the equator
        bbox = (-27.0, -7.0, -27.0 + side_deg, -7.0 + side_deg)
        plan = plan_export(world, bbox, "cog", 16, 16, 10**9)
        store = FileTileStore(tmp / "store")
        rng = np.random.default_rng(0)
        base = rng.integers(60, 140, (256, 256, 3), dtype=np.uint8)
        for index, (x, y) in enumerate(plan.tiles()):
            noise = np.roll(base, index * 7, axis=(0, 1))
            store.put_if_absent(world.id, 16, x, y, encode_plain(noise))
        queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        child = multiprocessing.get_context("spawn").Process(
            target=write, args=(world_file, tmp / "store", bbox, tmp / "out.tif", queue)
        )
        child.start()
        width, height, seconds, peak_mb = queue.get(timeout=1800)
        child.join()
        size_mb = (tmp / "out.tif").stat().st_size / 2**20
        print(
            f"COG export {width}x{height} px ({width * height / 1e6:.1f} Mpx, "
            f"{len(plan.tiles())} tiles): written in {seconds:.1f} s, file {size_mb:.0f} MB, "
            f"peak memory of the writing process {peak_mb:.0f} MB"
        )
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
