"""Cached-tile throughput and latency of `synthtiles serve` against nginx serving the same PNGs.

    python benchmarks/bench_cached_tiles.py [--connections 64] [--duration 15] [--api-workers 2]

Starts `synthtiles serve` (private Redis, embedded worker) on a fresh store, generates a set of
tiles, warms the cache, then runs wrk (Debian package `wrk`) against it and against nginx
(Debian package `nginx`) serving the store directory, and prints both and their ratio.
Loopback only; every load run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
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
worker_processes auto;
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--tiles", type=int, default=64, help="distinct cached tiles to cycle")
    parser.add_argument(
        "--memory-cache-mb",
        type=int,
        default=128,
        help="per-process tile LRU (0: every hit goes to Redis)",
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

    tmp = Path(tempfile.mkdtemp(prefix="synthtiles-bench-"))
    tmp.chmod(0o755)  # nginx workers run as an unprivileged user
    store = tmp / "store"
    api_port, nginx_port = free_port(), free_port()
    env = {
        **os.environ,
        "SYNTHTILES_STORE_ROOT": str(store),
        "SYNTHTILES_MEMORY_CACHE_MB": str(args.memory_cache_mb),
        "SYNTHTILES_VERIFY_CACHED_TILES": "false" if args.no_verify else "true",
    }
    env.pop("SYNTHTILES_REDIS_URL", None)  # a private Redis, so nothing else is measured
    # Serving cached tiles does not depend on the generator: a procedural world seeds fast.
    worlds_file = tmp / "worlds.toml"
    worlds_file.write_text(BENCH_WORLD)
    env["SYNTHTILES_WORLDS_FILE"] = str(worlds_file)
    api = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "--log-level",
            "warning",
            "serve",
            "--port",
            str(api_port),
            "--workers",
            str(args.api_workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "api.log").open("wb"),
    )
    nginx = None
    try:
        base = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base}/healthz")
        tilejson = httpx.get(f"{base}/tilejson.json", timeout=10).json()
        world = tilejson["synthtiles"]["world"]
        z = tilejson["minzoom"] + 2
        from core.world import WorldCatalog

        min_x, min_y, max_x, _ = WorldCatalog.load(worlds_file).get(world).tile_range(z)
        width = max_x - min_x + 1
        tiles = [(z, min_x + i % width, min_y + i // width) for i in range(args.tiles)]
        paths = [f"/{tz}/{tx}/{ty}.png" for tz, tx, ty in tiles]
        with httpx.Client(base_url=base, timeout=120) as client:
            for path in paths:  # generate, then warm every layer
                client.get(path).raise_for_status()
            sources = {client.get(path).headers["x-synthtiles-source"] for path in paths}
        assert sources <= {"cache", "memory"}, sources
        paths_file = tmp / "paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")

        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=nginx_port, root=store / world))
        nginx = subprocess.Popen(["nginx", "-c", str(conf)], stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{nginx_port}{paths[0]}")

        run_wrk(base, paths_file, args.connections, 3, args.threads)  # warm-up
        ours = run_wrk(base, paths_file, args.connections, args.duration, args.threads)
        theirs = run_wrk(
            f"http://127.0.0.1:{nginx_port}",
            paths_file,
            args.connections,
            args.duration,
            args.threads,
        )
        size = sum((store / world / f"{tz}/{tx}/{ty}.png").stat().st_size for tz, tx, ty in tiles)
        print(
            f"cached tiles: {len(paths)} distinct, mean {size / len(paths) / 1024:.1f} KiB; "
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s; "
            f"synthtiles API processes: {args.api_workers}; CPUs: {os.cpu_count()}; "
            f"Redis hits checked against their ETag: {'no' if args.no_verify else 'yes'}"
        )
        print(f"{'server':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
        for name, result in (("synthtiles", ours), ("nginx", theirs)):
            print(
                f"{name:<12}{result['rps']:>10.0f}{result['p50_ms']:>10.2f}"
                f"{result['p99_ms']:>10.2f}{result['non_2xx']:>10.0f}"
            )
        ratio = ours["rps"] / theirs["rps"]
        # Issue 12's goals: Redis hits (LRU off) >= 0.2x; with the LRU >= 0.35x, p99 <= 20 ms.
        target = 0.2 if args.memory_cache_mb == 0 else 0.35
        print(
            f"throughput ratio synthtiles/nginx: {ratio:.3f} (target >= {target}); "
            f"synthtiles p99 {ours['p99_ms']:.1f} ms (target <= 20 ms)"
        )
        return 0
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
        api.send_signal(signal.SIGINT)
        try:
            api.wait(timeout=30)
        except subprocess.TimeoutExpired:
            api.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
