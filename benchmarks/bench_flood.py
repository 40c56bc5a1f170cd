"""One client floods the server with distinct cold tiles while another browses.

    python benchmarks/bench_flood.py [--flood 2000] [--rate 600] [--max-queued 200]

Starts `synthtiles serve` (private Redis, one embedded worker, procedural world) with fair
use on, then: measures a second client's cold tile alone (unloaded); starts the flood (one
client, --flood distinct cold z16 tiles, 64 at a time, 0.3 s timeout each, as an abusive
scanner would); during it, the second client asks for a cold tile (as a viewer does:
again after Retry-After when refused) and for cached ones.
Prints the flood's status counts (no 500 or reset expected: 429/503 with Retry-After), the
queue's peak depth against its bound, and the second client's times.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import mercantile
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cached_tiles import BENCH_WORLD, ROOT, free_port, wait_http

FLOOD_SECONDS: dict[str, list[float]] = collections.defaultdict(list)


async def flood(base: str, tiles: list[tuple[int, int, int]], counts: collections.Counter) -> None:
    limit = asyncio.Semaphore(64)
    async with httpx.AsyncClient(base_url=base, timeout=0.3) as client:

        async def one(z: int, x: int, y: int) -> None:
            async with limit:
                started = time.perf_counter()
                try:
                    response = await client.get(f"/{z}/{x}/{y}.png")
                    kind = str(response.status_code)
                    if response.status_code in (429, 503) and "retry-after" not in response.headers:
                        kind += "-no-retry-after"
                except httpx.TimeoutException:
                    kind = "gave up (0.3 s)"
                except httpx.HTTPError as exc:
                    kind = f"error {type(exc).__name__}"
                counts[kind] += 1
                FLOOD_SECONDS[kind].append(time.perf_counter() - started)

        await asyncio.gather(*(one(*t) for t in tiles))


def timed_get(base: str, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = httpx.get(f"{base}{path}", timeout=120)
    return response.status_code, time.perf_counter() - started


def viewer_get(base: str, path: str) -> tuple[list[int], float]:
    """As a map viewer fetches a tile: on 429/503 it waits Retry-After and asks again."""
    started = time.perf_counter()
    statuses = []
    while time.perf_counter() - started < 300:
        response = httpx.get(f"{base}{path}", timeout=120)
        statuses.append(response.status_code)
        if response.status_code not in (429, 503):
            break
        time.sleep(float(response.headers.get("retry-after", "1")))
    return statuses, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=600, help="cold tiles per client per minute")
    parser.add_argument("--max-queued", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="synthtiles-flood-"))
    worlds = tmp / "worlds.toml"
    worlds.write_text(BENCH_WORLD)
    port = free_port()
    env = {
        **os.environ,
        "SYNTHTILES_STORE_ROOT": str(tmp / "store"),
        "SYNTHTILES_WORLDS_FILE": str(worlds),
        "SYNTHTILES_COLD_RATE_PER_MINUTE": str(args.rate),
        "SYNTHTILES_MAX_QUEUED_JOBS": str(args.max_queued),
        "SYNTHTILES_API_KEYS": "browser-key",
    }
    env.pop("SYNTHTILES_REDIS_URL", None)
    serve = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--log-level", "warning", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz")
        info = (tmp / "store" / ".synthtiles-serve.json").read_text()
        queue = redis.from_url(json.loads(info)["redis_url"])
        key = "?key=browser-key"  # the browsing client: its own budget
        lon, lat = -27.0, -7.0
        t16 = mercantile.tile(lon, lat, 16)
        browse = [f"/16/{t16.x + i}/{t16.y - 5}.png{key}" for i in range(3)]
        status, unloaded = timed_get(base, browse[0])
        assert status == 200, status
        cached = [timed_get(base, browse[0])[1] for _ in range(5)]
        flood_tiles = [(16, t16.x + 10 + i % 200, t16.y + 10 + i // 200) for i in range(args.flood)]
        counts: collections.Counter = collections.Counter()
        peak = 0

        async def run() -> tuple[list[int], float, list[float]]:
            nonlocal peak
            task = asyncio.create_task(flood(base, flood_tiles, counts))

            async def sample() -> None:
                nonlocal peak
                while not task.done():
                    depth = await asyncio.to_thread(queue.xlen, "synthtiles:jobs:interactive")
                    peak = max(peak, depth)
                    await asyncio.sleep(0.1)

            sampler = asyncio.create_task(sample())
            await asyncio.sleep(1.0)
            hits = [(await asyncio.to_thread(timed_get, base, browse[0]))[1] for _ in range(5)]
            loaded = await asyncio.to_thread(viewer_get, base, browse[1])
            await task
            await sampler
            return loaded[0], loaded[1], hits

        started = time.perf_counter()
        loaded_statuses, loaded_time, loaded_hits = asyncio.run(run())
        print(
            f"flood: {args.flood} distinct cold z16 tiles from one client in "
            f"{time.perf_counter() - started:.1f} s; fair use: {args.rate}/min per client, "
            f"queue bound {args.max_queued}"
        )
        for kind, count in sorted(counts.items()):
            took = sorted(FLOOD_SECONDS[kind])
            print(
                f"  {kind:<24}{count:>6}   median {took[len(took) // 2] * 1000:7.1f} ms, "
                f"max {took[-1] * 1000:7.1f} ms"
            )
        print(f"queue depth peak {peak} (bound {args.max_queued})")
        print(
            f"second client, cold tile: unloaded {unloaded:.2f} s, during the flood "
            f"{loaded_time:.2f} s (answers {loaded_statuses}, retrying after Retry-After as a "
            f"viewer does; goal <= 2x = {2 * unloaded:.2f} s)"
        )
        metrics = httpx.get(
            f"{base}/metrics", headers={"Authorization": "Bearer browser-key"}, timeout=10
        ).text
        for name in (
            "synthtiles_jobs_dropped_total",
            "synthtiles_jobs_swept_total",
            "synthtiles_clients_gone_total",
        ):
            total = sum(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith(name + " ") or line.startswith(name + "{")
            )
            print(f"{name} {total:.0f}")
        print(
            f"second client, cached tile: unloaded median {sorted(cached)[2] * 1000:.1f} ms, "
            f"during the flood median {sorted(loaded_hits)[2] * 1000:.1f} ms"
        )
        return 0
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
