"""What a world plan costs: building it (time, peak memory) and drawing it per tile.

    python benchmarks/bench_plan.py [--world carana-v2] [--tiles 20]

The build runs in a fresh process with no plan cache (as the first process of a new
deployment would), its peak resident memory read from the OS. Per tile: the plan's layers
of a 256-px tile plus the generation canvas margin (rasterize) and the texture prior drawn
over them (render), at each zoom of the world, in random places on land.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

BUILD = """
import json, resource, sys, time
from core.world import WorldCatalog
from core.plan.plan import WorldPlan
from core.plans import plan_spec
world = WorldCatalog.load(None).get(sys.argv[1])
started = time.perf_counter()
chunks = WorldPlan(plan_spec(world), cache_dir=None).build_all()
elapsed = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
c = chunks[0]
print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "cells": c.window.width * c.window.height,
    "rivers": len(c.rivers), "roads": len(c.roads), "settlements": len(c.settlements)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", default="carana-v2")
    parser.add_argument("--tiles", type=int, default=20)
    args = parser.parse_args()
    out = subprocess.run(
        [sys.executable, "-c", BUILD, args.world], check=True, capture_output=True, text=True
    )
    build = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"plan build of {args.world}: {build['seconds']:.1f} s, peak RSS {build['peak_mb']:.0f} MB "
        f"(process total, Python and numpy included), {build['cells']} cells, "
        f"{build['rivers']} watercourses, {build['roads']} roads, "
        f"{build['settlements']} settlements (goal <= 60 s, <= 2 GB)"
    )

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
