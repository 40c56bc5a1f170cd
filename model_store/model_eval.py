"""`synthtiles eval model`: realism (KID, FID) against held-out imagery, histogram validity,
a per-class breakdown and a sample mosaic per class.

Generated tiles come from the world cascade itself (layout render at min_zoom, then two
refinements), at the resolution of the training imagery: an evaluation world with
min_zoom 14 sampled at zoom 16 (about 2.4 m/px), compared with 256-px crops of the
held-out textures at their native resolution.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.classes import CLASSES
from model_store.chips import IMAGE_SUFFIXES, load_labels, read_rgb
from model_store.evaluation import HistogramRanges, InceptionFeatures, fid, kid

if TYPE_CHECKING:
    from core.world import World
    from worker.evaluation import Region

EVAL_ZOOM = 16
TILE = 256


def random_crops(
    folder: Path, n: int, labels: dict[str, str], seed: int
) -> tuple[np.ndarray, list[str]]:
    """n random 256-px crops, spread evenly over the folder's images."""
    rng = np.random.default_rng(seed)
    images = [
        (p, read_rgb(p)) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    images = [(p, a) for p, a in images if min(a.shape[:2]) >= TILE]
    crops, classes = [], []
    for index in range(n):
        path, array = images[index % len(images)]
        top = rng.integers(0, array.shape[0] - TILE + 1)
        left = rng.integers(0, array.shape[1] - TILE + 1)
        crops.append(array[top : top + TILE, left : left + TILE])
        classes.append(labels.get(path.name, "unknown"))
    return np.stack(crops), classes


def one_chip_per_image(folder: Path) -> np.ndarray:
    """The centre 256-px chip of every image (the histogram ranges' sample, as in DESIGN §6)."""
    chips = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        array = read_rgb(path)
        if min(array.shape[:2]) < TILE:
            continue
        top, left = (array.shape[0] - TILE) // 2, (array.shape[1] - TILE) // 2
        chips.append(array[top : top + TILE, left : left + TILE])
    return np.stack(chips)


def _eval_region(model_id: str, n: int) -> tuple[World, Region]:
    from core.world import DEFAULT_WORLD
    from worker.evaluation import Region

    world = DEFAULT_WORLD.model_copy(
        update={
            "id": "model-eval",
            "model": model_id,
            "min_zoom": EVAL_ZOOM - 2,
            "max_zoom": EVAL_ZOOM,
        }
    )
    side = int(np.ceil(np.sqrt(n)))
    min_x, min_y, _, _ = world.tile_range(EVAL_ZOOM)
    return world, Region(EVAL_ZOOM, min_x + 64, min_y + 64, side, side)


def prior_only_tiles(model_id: str, n: int, models_dir: Path | None) -> np.ndarray | None:
    """The ablation: the same tiles drawn by the model's texture prior alone, no sampling."""
    from model_store.registry import ModelRegistry
    from worker.layout import class_map
    from worker.texture_render import PriorDrawing

    entry = ModelRegistry.from_settings(models_dir).verify(model_id)
    prior = PriorDrawing.from_conditioning(entry.path, entry.id, entry.conditioning)
    if prior is None:
        return None
    world, region = _eval_region(model_id, n)
    renderer = prior.renderer(world.seed)
    tiles = []
    for x, y in region.tiles()[:n]:
        layout = class_map(world, EVAL_ZOOM, x * TILE, y * TILE, TILE, TILE)
        render = renderer.render(EVAL_ZOOM, x * TILE, y * TILE, layout)
        tiles.append(np.clip(render, 0, 255).round().astype(np.uint8))
    return np.stack(tiles)


def generate_tiles(model_id: str, n: int, models_dir: Path | None) -> tuple[np.ndarray, list[str]]:
    from worker.evaluation import generate_region, read_mosaic
    from worker.layout import class_map
    from worker.settings import WorkerSettings

    world, region = _eval_region(model_id, n)
    settings = WorkerSettings(models_dir=models_dir)
    with tempfile.TemporaryDirectory(prefix="synthtiles-model-eval-") as tmp:
        started = time.perf_counter()
        made = generate_region(world, Path(tmp), region, "row-major", 1, settings)
        print(
            f"generated {region.width * region.height} tiles ({made} units) in "
            f"{time.perf_counter() - started:.0f} s"
        )
        mosaic = read_mosaic(world, Path(tmp), region)
    tiles, classes = [], []
    for x, y in region.tiles()[:n]:
        ox, oy = (x - region.x0) * TILE, (y - region.y0) * TILE
        tiles.append(mosaic[oy : oy + TILE, ox : ox + TILE])
        layout = class_map(world, EVAL_ZOOM, x * TILE, y * TILE, TILE, TILE)
        classes.append(CLASSES[int(np.bincount(layout.ravel(), minlength=len(CLASSES)).argmax())])
    return np.stack(tiles), classes


def save_mosaic(tiles: np.ndarray, path: Path, side: int = 4) -> None:
    count = min(len(tiles), side * side)
    columns = min(side, count)
    rows = int(np.ceil(count / columns))
    mosaic = np.zeros((rows * TILE, columns * TILE, 3), np.uint8)
    for index in range(count):
        r, c = divmod(index, columns)
        mosaic[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE] = tiles[index]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mosaic).save(path)


def evaluate_model(args: argparse.Namespace) -> int:
    from model_store.registry import ModelRegistry

    labels = load_labels(args.holdout, args.labels, None) if args.labels else {}
    generated, generated_classes = generate_tiles(args.model, args.n, args.models_dir)
    held_out, held_classes = random_crops(args.holdout, len(generated), labels, seed=1)
    training, _ = random_crops(args.train_data, len(generated), labels, seed=2)

    features = InceptionFeatures()
    f_gen, f_held, f_train = features(generated), features(held_out), features(training)
    held_classes_present = set(held_classes)
    comparable = [i for i, c in enumerate(generated_classes) if c in held_classes_present]
    kid_gen, kid_gen_std = kid(f_gen, f_held)
    kid_floor, kid_floor_std = kid(f_train, f_held)
    fid_gen, fid_floor = fid(f_gen, f_held), fid(f_train, f_held)
    ranges = HistogramRanges.from_chips(one_chip_per_image(args.train_data))
    valid = ranges.valid(generated)

    n = len(generated)
    print(f"model {args.model}: n = {n} generated tiles vs {n} held-out crops (z{EVAL_ZOOM})")
    print(f"  KID generated/held-out: {kid_gen:.4f} ± {kid_gen_std:.4f}")
    print(f"  KID training/held-out (floor): {kid_floor:.4f} ± {kid_floor_std:.4f}")
    print(f"  KID ratio: {kid_gen / max(kid_floor, 1e-9):.2f} (target <= 2)")
    print(f"  FID generated/held-out: {fid_gen:.1f}; floor: {fid_floor:.1f}")
    # The held-out textures have no water: also compare only tiles of classes they contain.
    kid_comparable = None
    if len(comparable) >= 50 and len(comparable) < n:
        kid_comparable = kid(f_gen[comparable], f_held, subset_size=min(len(comparable), 100))[0]
        print(
            f"  KID of the {len(comparable)} generated tiles whose class the held-out set has: "
            f"{kid_comparable:.4f} (ratio {kid_comparable / max(kid_floor, 1e-9):.2f})"
        )
    print(
        f"  histogram ranges R {ranges.low[0]:.0f}-{ranges.high[0]:.0f}, "
        f"G {ranges.low[1]:.0f}-{ranges.high[1]:.0f}, B {ranges.low[2]:.0f}-{ranges.high[2]:.0f}"
    )
    print(f"  histogram validity: {valid.mean() * 100:.1f} % (target >= 99 %)")
    kid_prior = None
    if args.ablate_prior:
        prior_tiles = prior_only_tiles(args.model, n, args.models_dir)
        if prior_tiles is None:
            print("  (no texture prior to ablate)")
        else:
            kid_prior = kid(features(prior_tiles), f_held)[0]
            print(f"  ablation, texture prior alone (no model): KID {kid_prior:.4f}")
    per_class = {}
    for cls in CLASSES:
        gen_idx = [i for i, c in enumerate(generated_classes) if c == cls]
        held_idx = [i for i, c in enumerate(held_classes) if c == cls]
        entry = {
            "generated": len(gen_idx),
            "validity": float(valid[gen_idx].mean()) if gen_idx else None,
        }
        if len(gen_idx) >= 10 and len(held_idx) >= 10:
            entry["kid"] = kid(
                f_gen[gen_idx], f_held[held_idx], subset_size=min(len(gen_idx), len(held_idx), 100)
            )[0]
        per_class[cls] = entry
        if gen_idx:
            save_mosaic(generated[gen_idx], args.out / f"class-{cls}.png")
        kid_text = f", KID {entry['kid']:.4f}" if "kid" in entry else ""
        validity = f"{entry['validity'] * 100:.0f} %" if gen_idx else "-"
        print(f"  {cls:<10} {len(gen_idx):4d} tiles, validity {validity}{kid_text}")
    metrics = {
        "n": n,
        "kid": kid_gen,
        "kid_std": kid_gen_std,
        "kid_floor": kid_floor,
        "fid": fid_gen,
        "fid_floor": fid_floor,
        "histogram_validity": float(valid.mean()),
        "histogram_ranges": {"low": list(ranges.low), "high": list(ranges.high)},
        "per_class": per_class,
        "eval_zoom": EVAL_ZOOM,
    }
    if kid_comparable is not None:
        metrics["kid_classes_in_holdout"] = kid_comparable
    if kid_prior is not None:
        metrics["kid_prior_alone"] = kid_prior
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    np.savez_compressed(
        args.out / "generated-tiles.npz", tiles=generated, classes=np.array(generated_classes)
    )
    if args.record:
        ModelRegistry.from_settings(args.models_dir).update_metrics(args.model, metrics)
    return 0
