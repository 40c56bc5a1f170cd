"""Roam the open world: N tile requests at random places over the whole plane.

    python benchmarks/bench_soak.py [--requests 500] [--zooms 10-16] [--seed 1]
        [--plan-chunks 16] [--max-minutes M] [--quiet]

Starts the README's `synthtiles serve` (private Redis, one API process, one embedded
worker) on a fresh store and asks for `/worlds/terra/{z}/{x}/{y}.png` at uniformly random
places and zooms, one at a time, as a viewer does (again after Retry-After on a 503).
Prints: tiles answered, the median and p90 time to a tile, the median first-tile time in
a never-visited region (a request whose plan chunk no earlier request touched: it waits
for that chunk's plan, built in the worker), the peak RSS of the API and of the worker
(VmHWM of each process) and the plan cache's size on disk. One line per request as it
goes (zoom, its chunk, whether new, status, seconds, RSS so far) unless --quiet;
--max-minutes stops asking after that long (the figures then cover the requests made, and
say how many).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import mercantile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.plan.grid import CELLS, lonlat_to_cell  # noqa: E402
from core.plan.plan import CHUNK_CELLS  # noqa: E402
from core.world import MERCATOR_MAX_LAT  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_cached_tiles import free_port, wait_http  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        out += [int(c) for c in children]
        todo += [int(c) for c in children]
    return out


def role(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    if "redis-server" in cmd:
        return "redis"
    if "multiprocessing" in cmd or "spawn_main" in cmd:
        return "child"
    return cmd


def classify(pids: list[int]) -> dict[int, str]:
    """API, worker or export worker: by command line (the embedded export worker is a
    process of its own), else by what it has loaded (the worker loads torch)."""
    roles = {}
    for pid in pids:
        what = role(pid)
        if what == "redis":
            continue
        if "export-worker" in what:
            roles[pid] = "export"
            continue
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        roles[pid] = "worker" if "libtorch" in maps else "api"
    return roles


def random_tile(rng: random.Random, zooms: tuple[int, int]) -> tuple[int, int, int]:
    z = rng.randint(*zooms)
    lon = rng.uniform(-180.0, 180.0)
    lat = rng.uniform(-MERCATOR_MAX_LAT + 0.01, MERCATOR_MAX_LAT - 0.01)
    tile = mercantile.tile(lon, lat, z)
    return z, tile.x, tile.y


def tile_chunk(z: int, x: int, y: int) -> tuple[int, int]:
    west, _, _, north = mercantile.bounds(x, y, z)
    cx, cy = lonlat_to_cell(west + 1e-9, north - 1e-9)
    return int(cx // CHUNK_CELLS), int(cy // CHUNK_CELLS)


def viewer_get(client: httpx.Client, path: str, budget_s: float) -> tuple[int, float]:
    started = time.perf_counter()
    status = 0
    while time.perf_counter() - started < budget_s:
        try:
            response = client.get(path, timeout=budget_s)
            status = response.status_code
        except httpx.HTTPError:
            status = -1
        if status not in (429, 503, -1):
            break
        time.sleep(1.0)
    return status, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--zooms", default="10-16")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plan-chunks", type=int, default=16, help="chunks kept in memory")
    parser.add_argument("--budget-s", type=float, default=600.0, help="per request")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop asking after")
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    args = parser.parse_args()
    lo, _, hi = args.zooms.partition("-")
    zooms = (int(lo), int(hi or lo))
    rng = random.Random(args.seed)

    tmp = Path(tempfile.mkdtemp(prefix="synthtiles-soak-"))
    port = free_port()
    env = {
        **os.environ,
        "SYNTHTILES_STORE_ROOT": str(tmp / "tiles"),
        "SYNTHTILES_PLAN_CHUNKS_IN_MEMORY": str(args.plan_chunks),
        "SYNTHTILES_TILE_WAIT_TIMEOUT_S": "300",
        "SYNTHTILES_REDIS_PREFIX": f"soak{port}",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--log-level", "warning", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    peaks: dict[str, float] = {"api": 0.0, "worker": 0.0, "export": 0.0}
    times, first_times, statuses = [], [], []
    seen: set[tuple[int, int]] = set()
    stopped_early = False
    try:
        wait_http(f"{base}/healthz", 300)
        started = time.perf_counter()
        with httpx.Client(base_url=base) as client:
            for n in range(args.requests):
                if args.max_minutes and time.perf_counter() - started > 60 * args.max_minutes:
                    stopped_early = True
                    break
                z, x, y = random_tile(rng, zooms)
                chunk = tile_chunk(z, x, y)
                status, seconds = viewer_get(
                    client, f"/worlds/terra/{z}/{x}/{y}.png", args.budget_s
                )
                statuses.append(status)
                times.append(seconds)
                new = chunk not in seen
                if new:
                    first_times.append(seconds)
                    seen.add(chunk)
                for pid, kind in classify(descendants(server.pid)).items():
                    peaks[kind] = max(peaks[kind], peak_rss_mb(pid))
                if not args.quiet:
                    print(
                        f"  #{n + 1} z{z} chunk {chunk}{' new' if new else ''}: {status} in "
                        f"{seconds:.1f} s; peak RSS api {peaks['api']:.0f} MB "
                        f"worker {peaks['worker']:.0f} MB",
                        flush=True,
                    )
                if (n + 1) % 25 == 0:
                    print(
                        f"  {n + 1} requests, median {statistics.median(times):.1f} s, "
                        f"peak RSS api {peaks['api']:.0f} MB worker {peaks['worker']:.0f} MB",
                        flush=True,
                    )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    plan_mb = sum(f.stat().st_size for f in (tmp / "tiles").rglob("*.npz")) / 1e6
    ok = sum(s == 200 for s in statuses)
    times.sort()
    if not statuses:
        print("no request answered")
        return 1
    cut = f" (stopped after {args.max_minutes:g} min of {args.requests})" if stopped_early else ""
    print(
        f"requests {len(statuses)}{cut} over the whole plane, z{zooms[0]}-{zooms[1]}: "
        f"{ok} answered 200"
    )
    print(
        f"time to tile: median {statistics.median(times):.2f} s, "
        f"p90 {times[int(0.9 * (len(times) - 1))]:.2f} s"
    )
    print(
        f"first tile in a never-visited region ({len(first_times)} regions): median "
        f"{statistics.median(first_times):.2f} s, max {max(first_times):.2f} s"
    )
    print(
        f"peak RSS: api {peaks['api']:.0f} MB, worker {peaks['worker']:.0f} MB "
        f"(export worker {peaks['export']:.0f} MB)"
    )
    print(
        f"plan cache on disk: {plan_mb:.0f} MB for {len(seen)} chunks touched "
        f"(of {(CELLS // CHUNK_CELLS) ** 2} in the plane)"
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
