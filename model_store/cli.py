"""`synthtiles train` and `synthtiles models ...` (the evaluations are in worker.cli)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import Config

if TYPE_CHECKING:
    from model_store.registry import ModelEntry, ModelRegistry


def _registry(args: argparse.Namespace):
    from model_store.registry import ModelRegistry

    return ModelRegistry.from_settings(args.models_dir or Config.from_env().worker.models_dir)


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
        elif args.action in DERIVED_VERSIONS:
            entry = DERIVED_VERSIONS[args.action](registry, args)
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
    from model_store.chips import load_labels
    from model_store.texture_prior import attach_texture_prior

    source = registry.verify(args.model)
    if not args.data.is_dir():
        raise ValueError(f"{args.data} is not a folder of images")
    labels = load_labels(args.data, args.labels, args.label_rule)
    with _derived_copy(source) as folder:
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
        return _register(registry, folder, args, training_data)


def _add_bank(registry: ModelRegistry, args: argparse.Namespace) -> ModelEntry:
    """A new version of a model with a texture bank (crops of the training photographs)
    drawn by renderer 3; weights and prior are the source version's."""
    from model_store.datasets.flightgear import load_holdout
    from model_store.texture_bank import (
        BANK_FOLDER,
        DRAWN_SURFACES,
        build_texture_bank,
        missing_surfaces,
    )
    from model_store.texture_prior import BANK_RENDERER_VERSION

    source = registry.verify(args.model)
    if not args.data.is_dir():
        raise ValueError(f"{args.data} is not a folder of images")
    if not args.labels.is_file():
        raise ValueError(f"{args.labels} is not a labels CSV (file,class,split)")
    holdout = load_holdout(args.holdout) if args.holdout.is_file() else set()
    with _derived_copy(source) as folder:
        index = build_texture_bank(args.data, args.labels, folder / BANK_FOLDER, holdout)
        missing = missing_surfaces({entry["surface"] for entry in index["textures"]})
        if missing:
            raise ValueError(
                f"the photographs give no {', '.join(missing)}: renderer 3 draws every one "
                f"of {', '.join(DRAWN_SURFACES)} (see model_store/texture_bank.py)"
            )
        path = folder / "conditioning.json"
        conditioning = json.loads(path.read_text())
        prior = conditioning.get("texture_prior")
        if not prior:
            raise ValueError(f"{source.id} has no texture prior to draw the bank with")
        prior.update({"renderer": BANK_RENDERER_VERSION, "bank": BANK_FOLDER})
        if args.strength is not None:
            prior["strength"] = args.strength
        if args.steps is not None:
            conditioning["steps"] = args.steps
        if args.no_learned_step:
            conditioning["learned_step"] = False
        path.write_text(json.dumps(conditioning, indent=2))
        training_data = dict(source.manifest.get("training_data", {}))
        training_data["texture_bank"] = {
            "folder": str(args.data),
            "sources": sorted(entry["source"] for entry in index["textures"]),
            "held_out_excluded": sorted(holdout),
            "licence": "GPL-2+ (FlightGear terrain textures)",
            "derived_from": source.id,
        }
        return _register(registry, folder, args, training_data)


def _redraw(registry: ModelRegistry, args: argparse.Namespace) -> ModelEntry:
    """A new version of a model that draws its texture prior (and bank) with another
    renderer version; every other file is the source version's. How a model is drawn is
    part of its pixels, so a new renderer reaches a world only through a new version."""
    from model_store.texture_prior import BANK_RENDERER_VERSIONS, RENDERERS

    source = registry.verify(args.model)
    prior = source.conditioning.get("texture_prior")
    if not prior:
        raise ValueError(f"{source.id} has no texture prior to draw")
    if args.renderer not in RENDERERS:
        raise ValueError(
            f"renderer {args.renderer} is unknown; this synthtiles draws "
            f"{', '.join(map(str, RENDERERS))}"
        )
    if args.renderer in BANK_RENDERER_VERSIONS and not prior.get("bank"):
        raise ValueError(f"renderer {args.renderer} draws a texture bank; {source.id} has none")
    conditioning = dict(source.conditioning)
    conditioning["texture_prior"] = {**prior, "renderer": args.renderer}
    if args.no_feather_borders:
        conditioning["feather_borders"] = False
    if args.parent_margin:
        conditioning["parent_margin"] = args.parent_margin
    if args.parent_lock:
        conditioning["parent_lock"] = args.parent_lock
    # Settings a model leaves out have their defaults: naming a default changes nothing.
    defaults = {"parent_margin": "edge", "parent_lock": "exact"}
    effective = {**defaults, **conditioning}
    if effective["parent_lock"] == "smooth" and effective["parent_margin"] != "parent":
        raise ValueError(
            "--parent-lock smooth needs --parent-margin parent: the lock tells the parent's "
            "real pixels from those the margin repeats by the margin's sources"
        )
    if effective == {**defaults, **source.conditioning}:
        raise ValueError(
            f"{source.id} is already drawn by renderer {args.renderer} with these settings"
        )
    with _derived_copy(source) as folder:
        (folder / "conditioning.json").write_text(json.dumps(conditioning, indent=2))
        training_data = {
            **source.manifest.get("training_data", {}),
            "redrawn_from": {"model": source.id, "renderer": prior.get("renderer")},
        }
        return _register(registry, folder, args, training_data)


@contextmanager
def _derived_copy(source: ModelEntry) -> Iterator[Path]:
    """A scratch copy of a registered version's files (not its manifest), in which a new
    version derived from it is made before it is registered."""
    from model_store.registry import MANIFEST

    with tempfile.TemporaryDirectory(prefix="synthtiles-derive-") as tmp:
        folder = Path(tmp) / "model"
        shutil.copytree(source.path, folder, ignore=shutil.ignore_patterns(MANIFEST))
        yield folder


def _register(
    registry: ModelRegistry, folder: Path, args: argparse.Namespace, training_data: dict
) -> ModelEntry:
    """Registers a derived version as ``args.new_model``, with ``--card`` if given."""
    card = args.card.read_text() if args.card else None
    return registry.add(folder, args.new_model, training_data=training_data, card=card)


def _derived_parser(
    actions: argparse._SubParsersAction, name: str, help: str, source_needs: str = ""
) -> argparse.ArgumentParser:
    """The arguments every derived-version action has: the source, the new id, a card."""
    parser = actions.add_parser(name, help=help)
    parser.add_argument("model", help=f"existing NAME@VERSION{source_needs}")
    parser.add_argument("new_model", help="NAME@VERSION to register")
    parser.add_argument("--card", type=Path, help="MODEL_CARD.md for the new version")
    return parser


# New versions made from a registered one: same files, plus or changed what each adds.
DERIVED_VERSIONS = {"add-prior": _add_prior, "add-bank": _add_bank, "redraw": _redraw}


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
    prior = _derived_parser(
        actions, "add-prior", "register a new version of a model with a texture prior from images"
    )
    prior.add_argument("--data", type=Path, required=True, help="folder of labelled images")
    prior.add_argument("--labels", type=Path, help="CSV with columns file,class")
    prior.add_argument("--label-rule", help="regex on file names; group 1 is the class")
    prior.add_argument("--strength", type=float, default=0.3, help="SDEdit start (0, 1]")
    prior.add_argument("--cell-px", type=int, default=96, help="parcel size in native pixels")
    prior.add_argument("--size", type=int, default=128, help="spectrum window in pixels")
    prior.add_argument("--steps", type=int, help="DDIM schedule length (default: the model's)")
    bank = _derived_parser(
        actions,
        "add-bank",
        "register a new version of a model that draws from a texture bank of photographs",
        " (with a texture prior)",
    )
    bank.add_argument("--data", type=Path, required=True, help="folder of training photographs")
    bank.add_argument(
        "--labels", type=Path, required=True, help="CSV with columns file,class,split"
    )
    bank.add_argument(
        "--holdout",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "holdout-textures.txt",
        help="held-out texture names, refused by the bank",
    )
    bank.add_argument("--strength", type=float, help="SDEdit start (default: the model's)")
    bank.add_argument("--steps", type=int, help="DDIM schedule length (default: the model's)")
    bank.add_argument(
        "--no-learned-step",
        action="store_true",
        help="run the cascade without the network (learned_step: false in conditioning.json)",
    )
    redraw = _derived_parser(
        actions,
        "redraw",
        "register a new version of a model drawn by another renderer version",
        " (with a texture prior)",
    )
    redraw.add_argument("--renderer", type=int, required=True, help="texture renderer version")
    redraw.add_argument(
        "--no-feather-borders",
        action="store_true",
        help="the render is continuous across units by itself: do not soften unit borders "
        "(feather_borders: false in conditioning.json)",
    )
    redraw.add_argument(
        "--parent-margin",
        choices=("edge", "parent"),
        help="what fills a unit's parent canvas around its quadrant where no neighbour is "
        "known: the quadrant's edge (as before) or the parent's own pixels, carried on "
        "past its edge by the render (parent_margin in conditioning.json)",
    )
    redraw.add_argument(
        "--parent-lock",
        choices=("exact", "smooth"),  # model_store.conditioning.PARENT_LOCKS (torch-free here)
        help="how a unit's low frequencies follow its parent: every 2x2 block mean "
        "exactly, or only the low frequencies of the parent's difference from the unit's "
        "render (parent_lock in conditioning.json)",
    )
    models_cmd.set_defaults(handler=models_command)
