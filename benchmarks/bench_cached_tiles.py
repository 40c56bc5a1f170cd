"""Cached-tile throughput and latency of `synthtiles serve` against nginx serving the same PNGs.

    python benchmarks/bench_cached_tiles.py [--connections 64] [--duration 10] [--rounds 3]
        [--api-workers N (default: one per core, as nginx's worker_processes auto)]
        [--servers granian,uvicorn] [--layers memory,redis,store] [--no-verify]

Starts `synthtiles serve` (private Redis, embedded worker) on a fresh store and generates a
set of tiles; then nginx (Debian package `nginx`, as many worker processes as API processes)
serves the store directory, and for each server (`serve --server`) and cache layer (memory:
the per-process LRU; redis: LRU off, every hit read from Redis and checked against its ETag;
store: LRU off, every hit a stored file read by granian's front with the ETag kept with it,
Redis bypassed: granian only, uvicorn has no file path) a fresh `serve` warms the layer and
wrk (Debian package `wrk`) runs against nginx and it in turns, --rounds times: each ratio is
taken between neighbouring runs, so the load other work puts on the machine moves both alike
(the load average is printed beside them). Loopback only; every load run is bounded by
--duration. For the redis layer the files' stored ETags are taken off (granian would
otherwise answer from the files, before Redis), again after each warm-up pass (the route
gives a file it reads its ETag back), and put back for the other layers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

BENCH_WORLD = """
default = "bench"
[[worlds]]
id = "bench"
seed = 1
model = "procedural@0.1.0"
min_zoom = 10
max_zoom = 16
extent = [-30.0, -10.0, -24.0, -4.0]
"""

WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""

NGINX_CONF = """
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path {tmp}/client_body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  types {{ image/png png; }}
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location / {{ add_header Cache-Control "public, max-age=31536000, immutable"; }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def parse_wrk(output: str) -> dict[str, float]:
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for pct in ("50", "99"):
        result[f"p{pct}_ms"] = ms(re.search(rf"\s{pct}(?:\.000)?%\s+(\S+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def run_wrk(base: str, paths_file: Path, connections: int, duration: int, threads: int) -> dict:
    script = paths_file.with_suffix(".lua")
    script.write_text(WRK_SCRIPT % paths_file)
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return parse_wrk(output)


def start_serve(
    tmp: Path, env: dict[str, str], port: int, server: str, api_workers: int, generate: bool
) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--log-level",
            "warning",
            "serve",
            "--server",
            server,
            "--port",
            str(port),
            "--workers",
            str(api_workers),
            "--embedded-workers",
            "1" if generate else "0",
            "--embedded-export-workers",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / f"api-{server}-{port}.log").open("wb"),
    )


def stop(process: subprocess.Popen, stop_signal: int = signal.SIGINT) -> None:
    process.send_signal(stop_signal)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def load_average() -> float:
    return os.getloadavg()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="nginx/synthtiles turns")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--api-workers", type=int, default=os.cpu_count() or 1, help="default: one per core"
    )
    parser.add_argument("--tiles", type=int, default=64, help="distinct cached tiles to cycle")
    parser.add_argument("--servers", default="granian,uvicorn", help="serve --server values")
    parser.add_argument(
        "--layers",
        default="memory,redis,store",
        help="memory (LRU on), redis (LRU off), store (LRU off, files sent by granian)",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="SYNTHTILES_VERIFY_CACHED_TILES=false: serve Redis hits without the sha256 check",
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is required: apt-get install {tool}", file=sys.stderr)
            return 2
    servers = args.servers.split(",")
    layers = args.layers.split(",")

    tmp = Path(tempfile.mkdtemp(prefix="synthtiles-bench-"))
    tmp.chmod(0o755)  # nginx workers run as an unprivileged user
    store = tmp / "store"
    nginx_port = free_port()
    base_env = {
        **os.environ,
        "SYNTHTILES_STORE_ROOT": str(store),
        "SYNTHTILES_VERIFY_CACHED_TILES": "false" if args.no_verify else "true",
    }
    base_env.pop("SYNTHTILES_REDIS_URL", None)  # a private Redis, so nothing else is measured
    # Serving cached tiles does not depend on the generator: a procedural world seeds fast.
    worlds_file = tmp / "worlds.toml"
    worlds_file.write_text(BENCH_WORLD)
    base_env["SYNTHTILES_WORLDS_FILE"] = str(worlds_file)
    from core.store import ETAG_XATTR
    from core.world import WorldCatalog

    world = WorldCatalog.load(worlds_file).default
    z = world.min_zoom + 2
    min_x, min_y, max_x, _ = world.tile_range(z)
    width = max_x - min_x + 1
    tiles = [(z, min_x + i % width, min_y + i // width) for i in range(args.tiles)]
    paths = [f"/{tz}/{tx}/{ty}.png" for tz, tx, ty in tiles]
    paths_file = tmp / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")

    def wrk(base: str, duration: int) -> dict:
        return run_wrk(base, paths_file, args.connections, duration, args.threads)

    rows: list[tuple[str, dict, float, float]] = []  # name, median figures, ratio, load
    nginx = None
    try:
        port = free_port()  # generate the tiles once (embedded worker), then stop
        api = start_serve(tmp, base_env, port, servers[0], 1, generate=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/healthz", timeout_s=120)
            with httpx.Client(base_url=base, timeout=120) as client:
                for path in paths:
                    client.get(path).raise_for_status()
        finally:
            stop(api)
        files = [store / world.id / f"{tz}/{tx}/{ty}.png" for tz, tx, ty in tiles]
        etags = {file: os.getxattr(file, ETAG_XATTR) for file in files}

        def stored_etags(kept: bool) -> None:
            for file, etag in etags.items():
                if kept:
                    os.setxattr(file, ETAG_XATTR, etag)
                else:
                    with contextlib.suppress(OSError):
                        os.removexattr(file, ETAG_XATTR)

        conf = tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                tmp=tmp, port=nginx_port, root=store / world.id, workers=args.api_workers
            )
        )
        nginx = subprocess.Popen(["nginx", "-c", str(conf)], stderr=subprocess.DEVNULL)
        nginx_base = f"http://127.0.0.1:{nginx_port}"
        wait_http(f"{nginx_base}{paths[0]}")
        for server in servers:
            for layer in layers:
                if layer == "store" and server != "granian":
                    continue  # only granian's front answers from stored files
                stored_etags(layer != "redis")
                port = free_port()
                env = {
                    **base_env,
                    "SYNTHTILES_MEMORY_CACHE_MB": "128" if layer == "memory" else "0",
                }
                api = start_serve(tmp, env, port, server, args.api_workers, generate=False)
                try:
                    base = f"http://127.0.0.1:{port}"
                    wait_http(f"{base}/healthz", timeout_s=120)
                    with httpx.Client(base_url=base, timeout=120) as client:
                        for _ in range(args.api_workers * 4):  # every process's layer
                            # The route gives a file it reads its ETag: taken off again.
                            stored_etags(layer != "redis")
                            for path in paths:
                                client.get(path).raise_for_status()
                        stored_etags(layer != "redis")
                        sources = {
                            client.get(path).headers["x-synthtiles-source"] for path in paths
                        }
                    expected = {"memory": "memory", "redis": "cache", "store": "store"}[layer]
                    assert sources == {expected}, sources
                    wrk(base, 3)  # warm-up
                    wrk(nginx_base, 3)
                    ours, theirs, loads = [], [], []
                    for _ in range(args.rounds):  # side by side: nginx, then us, in turns
                        loads.append(load_average())
                        theirs.append(wrk(nginx_base, args.duration))
                        ours.append(wrk(base, args.duration))
                    ratio = statistics.median(
                        o["rps"] / t["rps"] for o, t in zip(ours, theirs, strict=True)
                    )
                    load = statistics.mean(loads)
                    rows.append((f"nginx (beside {server} {layer})", median_of(theirs), 1.0, load))
                    rows.append((f"{server} {layer}", median_of(ours), ratio, load))
                finally:
                    stop(api)
    finally:
        if nginx is not None:
            stop(nginx, signal.SIGQUIT)

    size = sum((store / world.id / f"{tz}/{tx}/{ty}.png").stat().st_size for tz, tx, ty in tiles)
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"cached tiles: {len(paths)} distinct, mean {size / len(paths) / 1024:.1f} KiB; "
        f"wrk -t{args.threads} -c{args.connections}, {args.rounds} rounds of {args.duration} s "
        f"(nginx, then synthtiles); API processes and nginx workers: {args.api_workers}; "
        f"CPUs: {os.cpu_count()}; Redis hits checked against their ETag: "
        f"{'no' if args.no_verify else 'yes'}"
    )
    print(
        f"{'server / layer':<32}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
        f"{'x nginx':>9}{'load1':>7}"
    )
    for name, result, ratio, load in rows:
        print(
            f"{name:<32}{result['rps']:>9.0f}{result['p50_ms']:>9.2f}"
            f"{result['p99_ms']:>9.2f}{result['non_2xx']:>9.0f}{ratio:>9.3f}{load:>7.2f}"
        )
    print(
        "medians over the rounds; x nginx: median of each round's ratio. Targets (issue 23): "
        "memory >= 0.5x nginx, redis/store >= 0.35x, p99 <= 10 ms at 64 connections"
    )
    return 0


def median_of(results: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


if __name__ == "__main__":
    sys.exit(main())
