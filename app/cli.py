"""The `synthtiles` command: `serve` (API + embedded worker + private Redis) and `worker`.

Heavy imports stay inside the commands: PROMETHEUS_MULTIPROC_DIR must be set before
prometheus_client is first imported by any process.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from app.process_guard import die_with_parent, owned_temp_dir, remove_stale_temp_dirs
from core.config import Config, ConfigError

log = logging.getLogger("synthtiles")

METRICS_DIR_PREFIX = "synthtiles-metrics-"
API_HEALTHCHECK_S = 60  # uvicorn's supervisor: how long an API process may go unanswering


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def load_config(command: str, needs_redis: bool = False) -> Config | None:
    """This process's settings, checked; None (after saying why) when they are invalid, or
    when the command ``needs_redis`` and none is configured."""
    try:
        config = Config.from_env()
    except (ConfigError, ValidationError) as exc:
        print(f"synthtiles {command}: invalid settings: {exc}", file=sys.stderr)
        return None
    try:
        _ = config.catalog  # the worlds file, read now: its faults stop the command here
    except (OSError, ValueError) as exc:  # unreadable, bad TOML, a bad world or scenario
        print(f"synthtiles {command}: invalid worlds: {exc}", file=sys.stderr)
        return None
    if needs_redis and not config.redis.redis_url:
        print(
            f"synthtiles {command}: set SYNTHTILES_REDIS_URL (e.g. redis://127.0.0.1:6379/0)",
            file=sys.stderr,
        )
        return None
    return config


def worker_devices(device: str, count: int) -> list[str]:
    """The device of each of `count` workers: with SYNTHTILES_DEVICE=cuda (no index), one
    GPU each, cuda:0 .. cuda:N-1; any other device (cpu, cuda:1) is shared as given."""
    if device == "cuda":
        return [f"cuda:{index}" for index in range(count)]
    return [device] * count


class EmbeddedWorkers:
    """`synthtiles worker` child processes, restarted if one dies unexpectedly or stops
    beating: a worker that was ready and whose liveness key expired (stopped, wedged
    beyond even its heartbeat thread) is killed and replaced, so a lone worker cannot hang
    the deployment; its jobs are re-claimed by the fresh one."""

    def __init__(
        self,
        count: int,
        device: str = "cpu",
        is_alive: Callable[[str], bool] | None = None,
        role: str = "worker",
    ) -> None:
        self.count = count
        self.role = role  # the command: "worker" (generation) or "export-worker"
        self.devices = worker_devices(device, count)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ids: list[str] = []
        self._is_alive = is_alive
        self._seen_alive: list[bool] = []
        self._spawned = 0
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="worker-monitor", daemon=True)

    def _spawn(self, index: int) -> None:
        """Start worker ``index`` (again): a fresh id each time, so its liveness is its own."""
        self._spawned += 1
        worker_id = f"{socket.gethostname()}-serve{os.getpid()}-{index}-{self._spawned}"
        # Own session: a Ctrl-C to the terminal's process group reaches `serve` alone, which
        # then stops the API first, the workers next and Redis last.
        command = [sys.executable, "-m", "app.cli", self.role, "--id", worker_id]
        if self.role == "worker":
            command += ["--device", self.devices[index]]
        process = subprocess.Popen(
            command,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        if index == len(self.processes):
            self.processes.append(process)
            self.ids.append(worker_id)
            self._seen_alive.append(False)
        else:
            self.processes[index] = process
            self.ids[index] = worker_id
            self._seen_alive[index] = False

    def start(self) -> None:
        for index in range(self.count):  # one by one: a stop mid-way still sees each one
            self._spawn(index)
        self._monitor.start()

    def _stopped_beating(self, index: int) -> bool:
        if self._is_alive is None:
            return False
        try:
            alive = self._is_alive(self.ids[index])
        except Exception as exc:  # Redis away: no verdict (the API reports it)
            log.debug("liveness check failed: %s", exc)
            return False
        if alive:
            self._seen_alive[index] = True
            return False
        return self._seen_alive[index]  # not yet ready (loading a model) is not hung

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for index, process in enumerate(self.processes):
                if self._stopping.is_set():
                    return
                if process.poll() is not None:
                    log.error("embedded worker exited with %s; restarting it", process.returncode)
                    self._spawn(index)
                elif self._stopped_beating(index):
                    log.error(
                        "embedded worker %s stopped beating (hung); killing and restarting it",
                        self.ids[index],
                    )
                    process.kill()
                    process.wait()
                    self._spawn(index)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # finish the current batch, then exit
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


def serve(args: argparse.Namespace) -> int:
    config = load_config("serve")
    if config is None:
        return 2
    embedded_redis = None
    serve_info = None
    metrics_dir = None
    workers = None
    exporters = None
    metrics_server = None

    # From the very first moment: a stop signal (also SIGHUP, a closed terminal) unwinds to
    # the cleanup below, which then ignores further signals so a second one cannot cut it
    # short. uvicorn re-raises the SIGTERM/SIGINT it caught once it has shut down.
    def exit_cleanly(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(stop_signal, exit_cleanly)
    try:
        if not os.environ.get("SYNTHTILES_REDIS_URL"):
            from app.embedded_redis import EmbeddedRedis

            embedded_redis = EmbeddedRedis(config.redis.embedded_maxmemory)
            os.environ["SYNTHTILES_REDIS_URL"] = embedded_redis.start()
            log.info("started a private Redis at %s", os.environ["SYNTHTILES_REDIS_URL"])
            from app.seeding import write_serve_info

            serve_info = write_serve_info(
                config.store.store_root, os.environ["SYNTHTILES_REDIS_URL"]
            )
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            remove_stale_temp_dirs(METRICS_DIR_PREFIX)  # left by a serve killed outright
            metrics_dir = str(owned_temp_dir(METRICS_DIR_PREFIX))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        # serve's own client: the metrics port's queue gauges and the workers' liveness.
        serve_redis = config.redis_client(os.environ["SYNTHTILES_REDIS_URL"])
        if config.metrics.metrics_port:
            from app.metrics_server import start_metrics_server
            from core.protocol import QueueProtocol, parse_stats

            stats = QueueProtocol(serve_redis, config.keys, config.queue.job_ttl_s)
            metrics_server = start_metrics_server(
                args.host, config.metrics.metrics_port, lambda: parse_stats(stats.stats())
            )
        if args.workers > 1:
            # Each API process warms the default world's plan in a thread; several building
            # it at once (with the worker) hold their GIL in long numpy calls for seconds,
            # and uvicorn's supervisor kills a child whose health ping goes unanswered.
            # Build it here once, before forking: the processes then read it from disk.
            from core.plans import warm_plan

            print(f"synthtiles: planning {config.catalog.default.id} (once)", flush=True)
            warm_plan(config.catalog.default)
        if args.embedded_workers > 0:
            workers = EmbeddedWorkers(
                args.embedded_workers,
                config.worker.device,
                lambda worker_id: bool(serve_redis.exists(config.keys.worker(worker_id))),
            )
            workers.start()
        if args.embedded_export_workers > 0:
            # Exports run in their own processes, never in the API.
            exporters = EmbeddedWorkers(args.embedded_export_workers, role="export-worker")
            exporters.start()

        host_for_url = "localhost" if args.host in ("0.0.0.0", "::", "127.0.0.1") else args.host
        print(
            f"synthtiles: viewer at http://{host_for_url}:{args.port}/  "
            f"(tiles: /{{z}}/{{x}}/{{y}}.png, TileJSON: /tilejson.json)",
            flush=True,
        )
        if args.server == "granian":
            _run_granian(args, config)
        else:
            _run_uvicorn(args, config)
        return 0
    finally:
        for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(stop_signal, signal.SIG_IGN)
        if metrics_server is not None:
            metrics_server.shutdown()
        if exporters is not None:
            exporters.stop()
        if workers is not None:
            workers.stop()
        if embedded_redis is not None:
            embedded_redis.stop()
        if serve_info is not None:
            serve_info.unlink(missing_ok=True)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_uvicorn(args: argparse.Namespace, config: Config) -> None:
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        limit_concurrency=config.api.max_connections,
        # The supervisor kills a child that has not answered its health ping in this
        # time; a child still starting (spawned, importing the app) on a loaded machine
        # takes longer than uvicorn's 5 s and was killed and restarted in a loop.
        timeout_worker_healthcheck=API_HEALTHCHECK_S,
    )


def _run_granian(args: argparse.Namespace, config: Config) -> None:
    """granian's RSGI workers (app.rsgi): cached tiles leave from Rust in one call."""
    import multiprocessing

    from granian import Granian
    from granian.constants import Interfaces, Loops

    # Fresh interpreters, as uvicorn's workers: forking this process (threads, Redis
    # and worker handles, signal handlers) would copy far more than an API process needs.
    multiprocessing.set_start_method("spawn", force=True)
    os.environ["SYNTHTILES_LOG_LEVEL"] = args.log_level  # the workers' own logging
    server = Granian(
        "app.rsgi:create_front",
        factory=True,
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        workers=args.workers,
        loop=Loops.uvloop,
        websockets=False,
        # Requests one process handles at once (uvicorn's limit_concurrency, by request):
        # beyond it granian stops reading new requests instead of piling them up.
        backpressure=config.api.max_connections,
        log_level=args.log_level.lower(),
        log_access=args.access_log,
        respawn_failed_workers=True,
    )

    @server.on_startup
    def hang_up_stops() -> None:
        # granian reloads its workers on SIGHUP; a closed terminal stops serve, as before.
        signal.signal(signal.SIGHUP, server.signal_handler_interrupt)

    server.serve()


def worker(args: argparse.Namespace) -> int:
    config = load_config("worker", needs_redis=True)
    if config is None:
        return 2
    if args.device:
        device = config.worker.model_copy(update={"device": args.device})
        config = dataclasses.replace(config, worker=device)
    if config.metrics.metrics_port and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import start_http_server

        start_http_server(config.metrics.metrics_port)
    from worker.runner import Worker  # after PROMETHEUS_MULTIPROC_DIR is settled

    runner = Worker.from_config(config, worker_id=args.id)
    runner.install_signal_handlers()
    runner.run()
    return 0


def export_worker(args: argparse.Namespace) -> int:
    config = load_config("export-worker", needs_redis=True)
    if config is None:
        return 2
    from app.export_worker import ExportWorker

    runner = ExportWorker(config, worker_id=args.id)
    runner.install_signal_handlers()
    runner.run()
    return 0


def seed(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.seeding import Deployment, SeedError, parse_zooms, units_for
    from core.bbox import parse_bbox, tiles_in
    from core.units import unit_of_tile

    config = load_config("seed")
    if config is None:
        return 2
    try:
        deployment = Deployment.connect(config)
        world = deployment.world(args.world)
        bbox = parse_bbox(args.bbox)
        zooms = parse_zooms(args.zoom, world)
        tiles_per_unit: dict = {}
        for zoom in zooms:
            for x, y in tiles_in(world, bbox, zoom):
                unit = unit_of_tile(world, zoom, x, y)
                tiles_per_unit[unit] = tiles_per_unit.get(unit, 0) + 1
        units = units_for(world, bbox, zooms)
    except SeedError as exc:
        print(f"synthtiles seed: {exc}", file=sys.stderr)
        return 2
    total = sum(tiles_per_unit.values())
    started = time.monotonic()
    with tqdm(total=total, unit="tile", desc=f"seeding {world.id} z{args.zoom}") as progress:
        made, skipped, failures = deployment.generate(
            world,
            units,
            window=args.window,
            on_done=lambda unit, ok: progress.update(tiles_per_unit.get(unit, 0)),
        )
    elapsed = time.monotonic() - started
    print(
        f"seeded {total} tiles of {world.id} at z{args.zoom} in {elapsed:.1f} s "
        f"({total / max(elapsed, 1e-9):.1f} tiles/s): {made} units generated here, "
        f"{skipped} already existed, {len(failures)} failed"
    )
    for failure in failures[:20]:
        print(f"  failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _zoom_range(text: str) -> tuple[int, int]:
    """'12' or '10-14' as (min, max); the export plan checks them against the world."""
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise ValueError(f"zoom must be N or N-M, got {text!r}") from None


def _layer_output(output: Path, layer: str | None) -> Path:
    """Where a package of `layer` goes: `-o` itself for imagery, else beside it with the
    layer in its name (carana.pmtiles -> carana-terrain.pmtiles), as the API names them."""
    return output if layer is None else output.with_name(f"{output.stem}-{layer}{output.suffix}")


def export(args: argparse.Namespace) -> int:
    from app.export import store_reader, write_export
    from app.offline import write_offline_viewer
    from app.seeding import Deployment, SeedError
    from core.bbox import parse_bbox
    from core.exports import plan_export
    from core.protocol import Priority

    if args.with_viewer and args.format != "pmtiles":
        print("synthtiles export: --with-viewer needs --format pmtiles", file=sys.stderr)
        return 2
    config = load_config("export")
    if config is None:
        return 2
    settings = config.api
    try:
        minzoom, maxzoom = _zoom_range(args.zoom)
        deployment = Deployment.connect(config)
        world = deployment.world(args.world)
        # One package per layer; unset options are None (the format's default).
        plans = [
            plan_export(
                world,
                parse_bbox(args.bbox),
                args.format,
                minzoom,
                maxzoom,
                settings.export_max_pixels,
                {"sea_depth": args.sea_depth or None, "layer": layer},
            )
            for layer in (args.layers.split(",") if args.layers else [None])
        ]
    except (SeedError, ValueError) as exc:
        print(f"synthtiles export: {exc}", file=sys.stderr)
        return 2
    units = [unit for plan in plans for unit in plan.units()]
    made, skipped, failures = deployment.generate(world, units, Priority.INTERACTIVE)
    if failures:
        print(f"synthtiles export: {len(failures)} units failed: {failures[:5]}", file=sys.stderr)
        return 1

    for plan in plans:
        out = _layer_output(args.output, plan.options.get("layer"))
        write_export(plan, store_reader(deployment.store, world.id), out, settings.attribution)
        print(f"wrote {out}: {plan.describe()} ({made} units generated, {skipped} already existed)")
    if args.with_viewer:
        page = write_offline_viewer(args.output.parent, args.output.name)
        print(f"wrote {page}: open it in a browser (see README, 'Offline exercise')")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthtiles", description="Synthetic satellite basemap tile server."
    )
    parser.add_argument("--log-level", default=os.environ.get("SYNTHTILES_LOG_LEVEL", "info"))
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the API with an embedded worker (and Redis)")
    serve_cmd.add_argument("--host", default=os.environ.get("SYNTHTILES_HOST", "127.0.0.1"))
    serve_cmd.add_argument(
        "--port", type=int, default=int(os.environ.get("SYNTHTILES_PORT", "8000"))
    )
    serve_cmd.add_argument("--workers", type=int, default=1, help="API processes")
    serve_cmd.add_argument(
        "--embedded-workers",
        type=int,
        default=1,
        help="generation worker processes to start (0: rely on external ones)",
    )
    serve_cmd.add_argument(
        "--embedded-export-workers",
        type=int,
        default=1,
        help="export worker processes to start (0: rely on `synthtiles export-worker`s)",
    )
    serve_cmd.add_argument("--access-log", action="store_true", help="log every request")
    serve_cmd.add_argument(
        "--server",
        choices=["granian", "uvicorn"],
        default=os.environ.get("SYNTHTILES_SERVER", "granian"),
        help="HTTP server of the API processes: granian (RSGI, cached tiles sent from Rust; "
        "default) or uvicorn (ASGI)",
    )
    serve_cmd.set_defaults(handler=serve)

    worker_cmd = commands.add_parser("worker", help="run one generation worker")
    worker_cmd.add_argument("--id", default=None, help="consumer name (default: host-pid-random)")
    worker_cmd.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: SYNTHTILES_DEVICE)"
    )
    worker_cmd.set_defaults(handler=worker)

    exporter_cmd = commands.add_parser(
        "export-worker", help="run export jobs (POST /export) outside the API"
    )
    exporter_cmd.add_argument("--id", default=None, help="consumer name (default: host-pid-random)")
    exporter_cmd.set_defaults(handler=export_worker)

    seed_cmd = commands.add_parser("seed", help="pre-generate an area at seeding priority")
    seed_cmd.add_argument("--world", help="world id (default: the default world)")
    seed_cmd.add_argument("--bbox", required=True, help="minlon,minlat,maxlon,maxlat")
    seed_cmd.add_argument("--zoom", required=True, help="N or N-M, e.g. 10-14")
    seed_cmd.add_argument("--window", type=int, default=64, help="jobs in flight at once")
    seed_cmd.set_defaults(handler=seed)

    export_cmd = commands.add_parser(
        "export", help="bbox -> Cloud-Optimized GeoTIFF, MBTiles or PMTiles package"
    )
    export_cmd.add_argument("--world", help="world id (default: the default world)")
    export_cmd.add_argument("--bbox", required=True, help="minlon,minlat,maxlon,maxlat")
    from core.exports import FORMATS  # the registry's names, so a new format shows up here

    export_cmd.add_argument("--format", choices=list(FORMATS), default="cog", help="default: cog")
    export_cmd.add_argument(
        "--zoom", required=True, help="N for a COG; N or N-M (e.g. 10-14) for a tile package"
    )
    export_cmd.add_argument("-o", "--output", type=Path, required=True)
    export_cmd.add_argument(
        "--layers",
        help="mbtiles/pmtiles: comma-separated layers, one package each: imagery (at -o), "
        "terrain, vector (beside it, e.g. out-terrain.pmtiles); default: imagery",
    )
    export_cmd.add_argument(
        "--sea-depth",
        action="store_true",
        help="dem: write the sea floor (negative metres) at sea instead of nodata",
    )
    export_cmd.add_argument(
        "--with-viewer",
        action="store_true",
        help="pmtiles: also write index.html and its scripts beside the file (offline viewer)",
    )
    export_cmd.set_defaults(handler=export)

    from model_store.cli import add_commands as add_model_commands
    from worker.cli import add_commands as add_eval_commands

    add_model_commands(commands)
    add_eval_commands(commands)
    return parser


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--bbox -10,-8,0,0` would read as an option to argparse: pass it as `--bbox=...`."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] == "--bbox" and arg.startswith("-"):
            joined[-1] = f"--bbox={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_join_negative_values(sys.argv[1:] if argv is None else argv))
    _configure_logging(args.log_level)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
