"""`synthtiles train`, `synthtiles models ...`, `synthtiles eval model|world`."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_store.registry import ModelEntry, ModelRegistry


def _registry(args: argparse.Namespace):
    from model_store.registry import ModelRegistry
    from worker.settings import WorkerSettings

    return ModelRegistry.from_settings(args.models_dir or WorkerSettings().models_dir)


def train_command(args: argparse.Namespace) -> int:
    from model_store.registry import ModelError, parse_model_id
    from model_store.training import TrainConfig, train

    try:
        parse_model_id(args.model)
    except ModelError as exc:
        print(f"synthtiles train: {exc}", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"synthtiles train: {args.data} is not a folder of images", file=sys.stderr)
        return 2
    config = TrainConfig(
        data=args.data,
        work_dir=args.work_dir or Path("runs") / args.model.replace("@", "-"),
        labels_csv=args.labels,
        label_rule=args.label_rule,
        default_class=args.default_class,
        crop=args.crop,
        levels=args.levels,
        batch_size=args.batch_size,
        steps=args.steps,
        learning_rate=args.learning_rate,
        checkpoint_every=args.checkpoint_every,
        widths=tuple(args.widths),
        device=args.device,
        max_minutes=args.max_minutes,
        max_black_fraction=args.max_black,
        max_white_fraction=args.max_white,
        sample_steps=args.sample_steps,
    )
    final = train(config)
    if args.prior_strength is not None:
        from model_store.chips import load_labels
        from model_store.texture_prior import attach_texture_prior

        labels = load_labels(args.data, args.labels, args.label_rule)
        attach_texture_prior(final, args.data, labels, args.prior_strength)
    training_data = {
        "folder": str(args.data),
        "labels": str(args.labels) if args.labels else None,
        "files": sorted(p.name for p in args.data.iterdir() if p.is_file()),
    }
    entry = _registry(args).add(final, args.model, training_data=training_data)
    print(f"added {entry.id} at {entry.path}")
    return 0


def models_command(args: argparse.Namespace) -> int:
    from model_store.registry import ModelError

    registry = _registry(args)
    try:
        if args.action == "list":
            for entry in registry.entries():
                size = sum(p.stat().st_size for p in entry.path.rglob("*") if p.is_file())
                print(
                    f"{entry.id:<28} {size / 2**20:6.1f} MB  steps={entry.manifest.get('steps')}  "
                    f"{entry.path}"
                )
        elif args.action == "verify":
            entry = registry.verify(args.model)
            print(f"{entry.id}: {len(entry.manifest['files'])} files match the manifest")
        elif args.action == "add":
            entry = _add(registry, args)
            print(f"added {entry.id} ({entry.kind.name}) at {entry.path}")
        elif args.action == "add-prior":
            entry = _add_prior(registry, args)
            print(f"added {entry.id} at {entry.path}")
        elif args.action == "remove":
            registry.remove(args.model)
            print(f"removed {args.model}")
    except (ModelError, ValueError) as exc:
        print(f"synthtiles models: {exc}", file=sys.stderr)
        return 1
    return 0


def _add(registry: ModelRegistry, args: argparse.Namespace) -> ModelEntry:
    config = json.loads(args.config.read_text()) if args.config else None
    return registry.add(args.source, args.model, kind=args.kind, config=config)


def _add_prior(registry: ModelRegistry, args: argparse.Namespace) -> ModelEntry:
    """A new version of a model: the same weights plus a texture prior built from images."""
    import shutil

    from model_store.chips import load_labels
    from model_store.registry import MANIFEST
    from model_store.texture_prior import attach_texture_prior

    source = registry.verify(args.model)
    if not args.data.is_dir():
        raise ValueError(f"{args.data} is not a folder of images")
    labels = load_labels(args.data, args.labels, args.label_rule)
    with tempfile.TemporaryDirectory(prefix="synthtiles-prior-") as tmp:
        folder = Path(tmp) / "model"
        shutil.copytree(source.path, folder, ignore=shutil.ignore_patterns(MANIFEST))
        attach_texture_prior(
            folder,
            args.data,
            labels,
            args.strength,
            size=args.size,
            cell_px=args.cell_px,
            steps=args.steps,
        )
        training_data = dict(source.manifest.get("training_data", {}))
        training_data["texture_prior"] = {
            "folder": str(args.data),
            "files": sorted(p.name for p in args.data.iterdir() if p.name in labels),
            "derived_from": source.id,
        }
        card = args.card.read_text() if args.card else None
        return registry.add(folder, args.new_model, training_data=training_data, card=card)


def eval_world_command(args: argparse.Namespace) -> int:
    from core.world import WorldCatalog
    from worker.evaluation import ORDERS, evaluate_world, region_from_bbox
    from worker.settings import WorkerSettings, WorldSettings

    world_settings = WorldSettings()
    catalog = WorldCatalog.load(world_settings.worlds_file, world_settings.default_world)
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
    settings = WorkerSettings()
    histogram_valid = None
    if world.model != "procedural@0.1.0":
        from model_store.evaluation import HistogramRanges
        from model_store.registry import ModelRegistry

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
    from core.world import WorldCatalog
    from worker.mosaics import write_mosaics
    from worker.settings import WorkerSettings, WorldSettings

    world_settings = WorldSettings()
    catalog = WorldCatalog.load(world_settings.worlds_file, world_settings.default_world)
    world = catalog.get(args.world) if args.world else catalog.default
    if world is None:
        print(f"unknown world {args.world!r}; known: {', '.join(catalog.ids())}")
        return 2
    zooms = [int(z) for z in args.zooms.split(",")]
    bad = [z for z in zooms if not world.min_zoom <= z <= world.max_zoom]
    if bad:
        print(f"zooms {bad} are outside {world.id}'s range {world.min_zoom}-{world.max_zoom}")
        return 2
    write_mosaics(world, zooms, args.places, args.size, args.out, WorkerSettings(), args.seed)
    return 0


def eval_model_command(args: argparse.Namespace) -> int:
    from model_store.model_eval import evaluate_model

    return evaluate_model(args)


def add_commands(commands: argparse._SubParsersAction) -> None:
    train_cmd = commands.add_parser("train", help="train a super-resolution diffusion model")
    train_cmd.add_argument("--data", type=Path, required=True, help="folder of RGB images")
    train_cmd.add_argument("--model", required=True, help="NAME@VERSION to register")
    train_cmd.add_argument("--labels", type=Path, help="CSV with columns file,class")
    train_cmd.add_argument("--label-rule", help="regex on file names; group 1 is the class")
    train_cmd.add_argument("--default-class", default="grassland")
    train_cmd.add_argument("--crop", type=int, default=64, help="chip size (the thesis used 64)")
    train_cmd.add_argument("--levels", type=int, default=3, help="downscale levels (1x, 2x, 4x)")
    train_cmd.add_argument("--batch-size", type=int, default=24)
    train_cmd.add_argument("--steps", type=int, default=1500)
    train_cmd.add_argument("--learning-rate", type=float, default=3e-4)
    train_cmd.add_argument("--checkpoint-every", type=int, default=250)
    train_cmd.add_argument("--widths", type=int, nargs="+", default=[32, 64, 64])
    train_cmd.add_argument("--sample-steps", type=int, default=8)
    train_cmd.add_argument(
        "--max-black",
        type=float,
        default=0.0005,
        help="drop chips with more than this fraction of black pixels",
    )
    train_cmd.add_argument("--max-white", type=float, default=0.0005)
    train_cmd.add_argument("--device", default="cpu")
    train_cmd.add_argument("--max-minutes", type=float)
    train_cmd.add_argument("--work-dir", type=Path, help="checkpoints; rerun to resume")
    train_cmd.add_argument(
        "--prior-strength",
        type=float,
        help="also build a texture prior from the labelled images; sampling starts from it "
        "at this SDEdit strength (0-1]",
    )
    train_cmd.add_argument("--models-dir", type=Path, help="registry to add the model to")
    train_cmd.set_defaults(handler=train_command)

    from model_store.kinds import KINDS

    models_cmd = commands.add_parser("models", help="list, add, verify or remove models")
    models_cmd.add_argument("--models-dir", type=Path)
    actions = models_cmd.add_subparsers(dest="action", required=True)
    actions.add_parser("list")
    for action in ("verify", "remove"):
        actions.add_parser(action).add_argument("model", help="NAME@VERSION")
    add = actions.add_parser(
        "add", help="add a model folder (a trained model, or a local diffusers pipeline)"
    )
    add.add_argument("source", type=Path)
    add.add_argument("model", help="NAME@VERSION")
    add.add_argument(
        "--kind",
        choices=sorted(KINDS),
        help="the model kind of a folder without conditioning.json "
        "(diffusers-inpaint: a diffusers inpainting pipeline folder)",
    )
    add.add_argument(
        "--config",
        type=Path,
        help="conditioning.json to use (prompts, steps, strength) instead of the kind's default",
    )
    prior = actions.add_parser(
        "add-prior", help="register a new version of a model with a texture prior from images"
    )
    prior.add_argument("model", help="existing NAME@VERSION")
    prior.add_argument("new_model", help="NAME@VERSION to register")
    prior.add_argument("--data", type=Path, required=True, help="folder of labelled images")
    prior.add_argument("--labels", type=Path, help="CSV with columns file,class")
    prior.add_argument("--label-rule", help="regex on file names; group 1 is the class")
    prior.add_argument("--strength", type=float, default=0.3, help="SDEdit start (0, 1]")
    prior.add_argument("--cell-px", type=int, default=96, help="parcel size in native pixels")
    prior.add_argument("--size", type=int, default=128, help="spectrum window in pixels")
    prior.add_argument("--steps", type=int, help="DDIM schedule length (default: the model's)")
    prior.add_argument("--card", type=Path, help="MODEL_CARD.md for the new version")
    models_cmd.set_defaults(handler=models_command)

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
    model_cmd.set_defaults(handler=eval_model_command)
