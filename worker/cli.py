"""`synthtiles eval world|mosaics|model`: measures that run the generator itself."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from core.config import Config
from model_store.evaluation import HistogramRanges
from model_store.registry import ModelRegistry
from worker.evaluation.model import evaluate_model
from worker.evaluation.mosaics import write_mosaics
from worker.evaluation.world import ORDERS, evaluate_world, region_from_bbox


def eval_world_command(args: argparse.Namespace) -> int:
    config = Config.from_env()
    catalog = config.catalog
    world = catalog.get(args.world or catalog.default_id)
    if world is None:
        print(f"unknown world {args.world!r}; known: {', '.join(catalog.ids())}", file=sys.stderr)
        return 2
    zoom = args.zoom if args.zoom is not None else world.min_zoom + 2
    if not world.min_zoom <= zoom <= world.max_zoom:
        print(f"zoom {zoom} outside {world.min_zoom}-{world.max_zoom}", file=sys.stderr)
        return 2
    bbox = tuple(float(v) for v in args.bbox.split(",")) if args.bbox else None
    region = region_from_bbox(world, zoom, bbox, args.size)
    orders = [o for o in args.orders.split(",") if o]
    unknown = set(orders) - set(ORDERS)
    if unknown:
        print(f"unknown orders {sorted(unknown)}; choose from {', '.join(ORDERS)}", file=sys.stderr)
        return 2
    settings = config.worker
    histogram_valid = None
    if world.model != "procedural@0.1.0":
        metrics = ModelRegistry.from_settings(settings.models_dir).get(world.model).manifest
        ranges = metrics.get("metrics", {}).get("histogram_ranges")
        if ranges:
            histogram_valid = HistogramRanges(tuple(ranges["low"]), tuple(ranges["high"])).valid
    out = args.out or Path(tempfile.mkdtemp(prefix="synthtiles-eval-"))
    report = evaluate_world(
        world,
        out,
        region,
        orders,
        [int(w) for w in args.workers.split(",")],
        settings,
        histogram_valid,
    )
    print(
        f"world {world.id} ({world.model}), z{zoom}, {region.width}x{region.height} tiles, "
        f"store {out}"
    )
    for line in report.lines:
        print("  " + line)
    if args.json:
        args.json.write_text(json.dumps(report.figures, indent=2))
    return 0


def eval_mosaics_command(args: argparse.Namespace) -> int:
    config = Config.from_env()
    catalog = config.catalog
    world = catalog.get(args.world) if args.world else catalog.default
    if world is None:
        print(f"unknown world {args.world!r}; known: {', '.join(catalog.ids())}")
        return 2
    zooms = [int(z) for z in args.zooms.split(",")]
    bad = [z for z in zooms if not world.min_zoom <= z <= world.max_zoom]
    if bad:
        print(f"zooms {bad} are outside {world.id}'s range {world.min_zoom}-{world.max_zoom}")
        return 2
    write_mosaics(world, zooms, args.places, args.size, args.out, config.worker, args.seed)
    return 0


def eval_model_command(args: argparse.Namespace) -> int:
    return evaluate_model(args)


def add_commands(commands: argparse._SubParsersAction) -> None:
    eval_cmd = commands.add_parser("eval", help="measure a world or a model")
    targets = eval_cmd.add_subparsers(dest="target", required=True)
    world_cmd = targets.add_parser("world", help="seams, cross-zoom, order independence...")
    world_cmd.add_argument("--world")
    world_cmd.add_argument("--zoom", type=int)
    world_cmd.add_argument("--bbox", help="minlon,minlat,maxlon,maxlat (default: centre block)")
    world_cmd.add_argument("--size", type=int, default=8, help="tiles per side without --bbox")
    world_cmd.add_argument("--orders", default="row-major,random,reverse")
    world_cmd.add_argument(
        "--workers", default="1", help="comma list, e.g. 1,2: other counts rerun the first order"
    )
    world_cmd.add_argument("--out", type=Path, help="folder for the fresh stores")
    world_cmd.add_argument("--json", type=Path, help="also write the figures as JSON")
    world_cmd.set_defaults(handler=eval_world_command)

    mosaics_cmd = targets.add_parser(
        "mosaics", help="mosaics at several zooms in random places, and the prior alone"
    )
    mosaics_cmd.add_argument("--world")
    mosaics_cmd.add_argument("--zooms", default="10,12,14,16")
    mosaics_cmd.add_argument("--places", type=int, default=3)
    mosaics_cmd.add_argument("--size", type=int, default=8, help="tiles per mosaic side")
    mosaics_cmd.add_argument("--seed", type=int, default=0, help="which random places")
    mosaics_cmd.add_argument("--out", type=Path, default=Path("docs/mosaics"))
    mosaics_cmd.set_defaults(handler=eval_mosaics_command)

    model_cmd = targets.add_parser("model", help="KID/FID, histogram validity, class mosaics")
    model_cmd.add_argument("model", help="NAME@VERSION")
    model_cmd.add_argument("--holdout", type=Path, required=True, help="held-out images")
    model_cmd.add_argument("--train-data", type=Path, required=True, help="training images")
    model_cmd.add_argument("--labels", type=Path, help="CSV file,class for both folders")
    model_cmd.add_argument("-n", type=int, default=500, help="generated tiles")
    model_cmd.add_argument("--out", type=Path, default=Path("docs/eval"))
    model_cmd.add_argument(
        "--zooms", default="16,15,14", help="zooms scored against downsampled held-out imagery"
    )
    model_cmd.add_argument("--models-dir", type=Path)
    model_cmd.add_argument("--record", action="store_true", help="store metrics in the manifest")
    model_cmd.add_argument(
        "--ablate-prior",
        action="store_true",
        help="also score the model's texture prior drawn alone (no sampling)",
    )
    model_cmd.add_argument(
        "--ablate-learned-step",
        action="store_true",
        help="also score the same cascade without the network (learned_step: false)",
    )
    model_cmd.set_defaults(handler=eval_model_command)
