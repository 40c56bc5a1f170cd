"""What a world plan costs: building it (time, peak memory) and drawing it per tile.

    python benchmarks/bench_plan.py [--world carana-v2] [--tiles 20]
    python benchmarks/bench_plan.py --world terra --tiles 0 [--chunk 11,19]

The build runs in a fresh process with no plan cache (as the first process of a new
deployment would), its peak resident memory read from the OS. A chunked world (``terra``,
the whole plane) builds one chunk: by default the one under the world's centre; for an
open world its region's coarse plan first, each timed, with their cache files' sizes.
Per tile (--tiles): the plan's layers of a 256-px tile plus the generation canvas margin
(rasterize) and the texture prior drawn over them (render), at each zoom of the world, in
random places on land.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

BUILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from core.world import WorldCatalog
from core.plan.grid import lonlat_to_cell
from core.plan.plan import CHUNK_CELLS, OPEN_PLAN_VERSION, WorldPlan
from core.plans import plan_spec
world = WorldCatalog.load(None).get(sys.argv[1])
spec = plan_spec(world)
cache = Path(tempfile.mkdtemp(prefix="bench-plan-"))
plan = WorldPlan(spec, cache_dir=cache)
region_s = 0.0
started = time.perf_counter()
if spec.chunked:
    if sys.argv[2]:
        key = tuple(int(v) for v in sys.argv[2].split(","))
    else:
        x, y = lonlat_to_cell(*world.center_lonlat)
        key = (int(x // CHUNK_CELLS), int(y // CHUNK_CELLS))
    if spec.version == OPEN_PLAN_VERSION:
        from core.plan.open import region_key
        plan.region(region_key(key[0] * CHUNK_CELLS, key[1] * CHUNK_CELLS))
        region_s = time.perf_counter() - started
    chunks = [plan.chunk(key)]
else:
    chunks = plan.build_all()
elapsed = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
c = chunks[0]
sizes = {f.name.split("-")[0]: f.stat().st_size / 1e6 for f in cache.glob("*.npz")}
print(json.dumps({"seconds": elapsed, "region_s": region_s, "peak_mb": peak_mb,
    "cells": c.window.width * c.window.height, "files_mb": sizes,
    "rivers": len(c.rivers), "roads": len(c.roads), "settlements": len(c.settlements)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", default="carana-v2")
    parser.add_argument("--tiles", type=int, default=20)
    parser.add_argument("--chunk", default="", help="I,J: the chunk a chunked world builds")
    args = parser.parse_args()
    out = subprocess.run(
        [sys.executable, "-c", BUILD, args.world, args.chunk],
        check=True,
        capture_output=True,
        text=True,
    )
    build = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"plan build of {args.world}: {build['seconds']:.1f} s, peak RSS {build['peak_mb']:.0f} MB "
        f"(process total, Python and numpy included), {build['cells']} cells, "
        f"{build['rivers']} watercourses, {build['roads']} roads, "
        f"{build['settlements']} settlements (goal <= 60 s, <= 2 GB)"
    )
    if build["region_s"]:
        print(f"  of which the region's coarse plan {build['region_s']:.1f} s")
    print("  cache files: " + ", ".join(f"{k} {v:.1f} MB" for k, v in build["files_mb"].items()))
    if args.tiles <= 0:
        return 0

    from core.plan.raster import rasterize
    from core.plans import world_plan
    from core.world import WorldCatalog
    from model_store.registry import ModelRegistry
    from worker.evaluation.mosaics import random_places, region_at
    from worker.synthesis.prior_drawing import PriorDrawing

    world = WorldCatalog.load(None).get(args.world)
    plan = world_plan(world)
    entry = ModelRegistry().verify(world.model)
    prior = PriorDrawing.from_conditioning(entry.path, entry.id, entry.conditioning)
    places = random_places(world, args.tiles, seed=5)
    canvas = world.tile_size + 2 * world.canvas_margin
    print(f"{'zoom':>5}{'rasterize s':>13}{'render s':>10}  (median per {canvas}^2 canvas)")
    for zoom in range(world.min_zoom, world.max_zoom + 1):
        raster_times, render_times = [], []
        for lon, lat in places:
            region = region_at(world, lon, lat, zoom, 1)
            left = region.x0 * world.tile_size - world.canvas_margin
            top = region.y0 * world.tile_size - world.canvas_margin
            started = time.perf_counter()
            raster = rasterize(plan, zoom, left, top, canvas, canvas, world.tile_size)
            raster_times.append(time.perf_counter() - started)
            if prior is not None:
                started = time.perf_counter()
                prior.draw(world.seed, zoom, left, top, raster.classes, raster)
                render_times.append(time.perf_counter() - started)
        render = f"{statistics.median(render_times):>10.2f}" if render_times else f"{'-':>10}"
        print(f"{zoom:>5}{statistics.median(raster_times):>13.2f}{render}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
