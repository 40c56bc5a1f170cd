"""Generation throughput of real workers, and how a seeding run grows with its area.

    python benchmarks/bench_throughput.py [--world carana-v4] [--center -27,-7]
        [--side 0.02] [--zoom 10-15] [--workers 1,2] [--areas 1,2,4] [--target-side 0.5]

Each run is a fresh `synthtiles serve` (private Redis, N embedded workers, a fresh tile store
sharing the repository's plan cache) and `synthtiles seed` of a square area around --center
at --zoom, as a user seeds an exercise area. Printed per run: tiles generated (the store's
files: the area's tiles plus the parents and neighbours they depend on), wall time, tiles/s,
worker CPU-seconds per tile, peak RSS of the workers and of the seed process, and the load
average (other work on the machine slows every figure).

First the 1x area with each --workers count (tiles/s and CPU-s per tile against worker
processes), then the area grown by --areas (1x, 2x, 4x the area, 2 workers by default),
and from the largest run's seconds per generated tile the time the --target-side square
(z10-15 over 0.5 deg x 0.5 deg: an exercise area) would take: an extrapolation, printed as
one, with the target's tile count.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from core.bbox import parse_bbox, tiles_in
from core.settings import WorldSettings
from core.world import WorldCatalog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_cached_tiles import free_port, stop, wait_http  # noqa: E402


@dataclass
class Run:
    label: str
    workers: int
    side: float
    area_tiles: int  # tiles inside the bbox at the zooms
    generated: int  # tiles in the store afterwards (with dependencies outside the bbox)
    wall_s: float
    worker_cpu_s: float
    worker_peak_mb: float
    seed_peak_mb: float
    load: float


def bbox_of(center: tuple[float, float], side: float) -> str:
    lon, lat = center
    half = side / 2
    return f"{lon - half:.6f},{lat - half:.6f},{lon + half:.6f},{lat + half:.6f}"


def area_tiles(world, bbox: str, zooms: range) -> int:
    box = parse_bbox(bbox)
    return sum(len(list(tiles_in(world, box, z))) for z in zooms)


def tiles_to_generate(world, bbox: str, zooms: range) -> int:
    """The area's units and every dependency they need (parents, lower-phase neighbours),
    on an empty store, as the workers plan them: what seeding it generates."""
    from app.seeding import units_for
    from worker.synthesis.engine import plan

    targets = units_for(world, parse_bbox(bbox), list(zooms))
    units = {unit for wave in plan(world, targets, lambda _unit: False) for unit in wave}
    return len(units) * world.unit_size**2


def worker_processes(serve: subprocess.Popen) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(serve.pid).children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "app.cli" in cmdline and "worker" in cmdline:
            found.append(child)
    return found


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def peak_rss_mb(processes: list[psutil.Process]) -> float:
    peaks = []
    for process in processes:
        status = Path(f"/proc/{process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def one_run(args, world, label: str, workers: int, side: float, zooms: range) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix="synthtiles-throughput-"))
    env = {
        **os.environ,
        "SYNTHTILES_STORE_ROOT": str(tmp / "store"),
        "SYNTHTILES_PLAN_CACHE_DIR": str(args.plan_cache),
        "SYNTHTILES_DEFAULT_WORLD": world.id,
    }
    env.pop("SYNTHTILES_REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--log-level",
            "warning",
            "serve",
            "--port",
            str(port),
            "--embedded-workers",
            str(workers),
            "--embedded-export-workers",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("wb"),
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=300)
        deadline = time.monotonic() + 300
        while len(worker_processes(serve)) < workers and time.monotonic() < deadline:
            time.sleep(0.5)
        wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=300)  # 503 until a worker is
        processes = worker_processes(serve)
        cpu_before = cpu_seconds(processes)
        bbox = bbox_of(args.center, side)
        load = os.getloadavg()[0]
        started = time.monotonic()
        seed = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "--log-level",
                "warning",
                "seed",
                "--world",
                world.id,
                f"--bbox={bbox}",
                "--zoom",
                args.zoom,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        _, status, usage = os.wait4(seed.pid, 0)
        wall = time.monotonic() - started
        seed.returncode = os.waitstatus_to_exitcode(status)
        output = seed.stdout.read() if seed.stdout else ""
        if seed.returncode != 0:
            raise RuntimeError(f"seed failed ({seed.returncode}): {output}")
        load = (load + os.getloadavg()[0]) / 2
        generated = sum(1 for _ in (tmp / "store" / world.id).rglob("*.png"))
        return Run(
            label,
            workers,
            side,
            area_tiles(world, bbox, zooms),
            generated,
            wall,
            cpu_seconds(processes) - cpu_before,
            peak_rss_mb(processes),
            usage.ru_maxrss / 1024,
            load,
        )
    finally:
        stop(serve, signal.SIGTERM)
        shutil.rmtree(tmp, ignore_errors=True)


def report(run: Run) -> None:
    print(
        f"{run.label:<22}{run.workers:>3}{run.side:>9.4f}{run.area_tiles:>7}{run.generated:>7}"
        f"{run.wall_s:>9.1f}{run.generated / run.wall_s:>8.2f}"
        f"{run.worker_cpu_s / run.generated:>9.2f}{run.worker_peak_mb:>9.0f}"
        f"{run.seed_peak_mb:>8.0f}{run.load:>7.2f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", default="carana-v4")
    parser.add_argument("--center", default="-27,-7", help="lon,lat (land in carana)")
    parser.add_argument("--side", type=float, default=0.02, help="degrees, the 1x square")
    parser.add_argument("--zoom", default="10-15")
    parser.add_argument("--workers", default="1,2", help="worker processes for the 1x runs")
    parser.add_argument("--areas", default="1,2,4", help="area multiples (2 workers)")
    parser.add_argument("--area-workers", type=int, default=2)
    parser.add_argument("--target-side", type=float, default=0.5)
    parser.add_argument("--plan-cache", type=Path, default=ROOT / "data" / "tiles" / ".plans")
    args = parser.parse_args()
    args.center = tuple(float(v) for v in args.center.split(","))
    low, _, high = args.zoom.partition("-")
    zooms = range(int(low), int(high or low) + 1)
    settings = WorldSettings()
    world = WorldCatalog.load(settings.worlds_file, args.world).get(args.world)
    print(
        f"world {world.id} ({world.model}), z{args.zoom} around {args.center}, CPUs "
        f"{os.cpu_count()}; columns: workers, side (deg), tiles in the area, tiles generated "
        "(with their dependencies), wall s, tiles/s, worker CPU-s per tile, peak RSS MB of "
        "a worker and of the seed process, load average"
    )
    print(
        f"{'run':<22}{'w':>3}{'side':>9}{'area':>7}{'made':>7}{'wall s':>9}{'tile/s':>8}"
        f"{'cpu s/t':>9}{'wkr MB':>9}{'seed MB':>8}{'load':>7}"
    )
    runs: dict[tuple[int, float], Run] = {}
    for count in (int(w) for w in args.workers.split(",")):
        run = one_run(args, world, f"1x, {count} worker(s)", count, args.side, zooms)
        runs[(count, 1.0)] = run
        report(run)
    largest = None
    for multiple in (float(a) for a in args.areas.split(",")):
        key = (args.area_workers, multiple)
        if key not in runs:
            side = args.side * math.sqrt(multiple)
            runs[key] = one_run(args, world, f"{multiple:g}x area", args.area_workers, side, zooms)
            report(runs[key])
        largest = runs[key]
    if largest is not None:
        bbox = bbox_of(args.center, args.target_side)
        target = tiles_to_generate(world, bbox, zooms)
        per_tile = largest.wall_s / largest.generated
        print(
            f"extrapolated, not measured: z{args.zoom} over a {args.target_side} deg square: "
            f"{area_tiles(world, bbox, zooms)} tiles in the area, {target} generated with "
            f"their dependencies; at the {largest.label} run's {per_tile:.2f} s per generated "
            f"tile ({largest.workers} workers): ~{target * per_tile / 60:.0f} min"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
