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
from core.layout import layout_of
from core.settings import WorkerSettings
from core.world import DEFAULT_WORLD
from model_store.chips import IMAGE_SUFFIXES, load_labels, read_rgb
from model_store.evaluation import HistogramRanges, InceptionFeatures, fid, kid
from model_store.registry import ModelRegistry
from worker.evaluation.mosaics import prior_alone, random_places, region_at
from worker.evaluation.world import generate_region, read_mosaic

if TYPE_CHECKING:
    from core.world import World
    from worker.evaluation.world import Region

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


def scaled_crops(
    folder: Path, n: int, factor: int, seed: int, names: set[str] | None = None
) -> np.ndarray:
    """n random 256-px crops of the folder's images (only ``names``, if given)
    area-downsampled by ``factor`` (the ground resolution of zoom 16 - log2(factor));
    images too small for a crop are skipped."""
    rng = np.random.default_rng(seed)
    images = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if names is not None and path.name not in names:
            continue
        array = read_rgb(path)
        if factor > 1:
            h, w = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
            array = (
                array[:h, :w]
                .astype(np.float32)
                .reshape(h // factor, factor, w // factor, factor, 3)
                .mean((1, 3))
                .round()
                .astype(np.uint8)
            )
        if min(array.shape[:2]) >= TILE:
            images.append(array)
    if not images:
        raise ValueError(f"no image in {folder} is {TILE * factor} px or larger")
    crops = []
    for index in range(n):
        array = images[index % len(images)]
        top = rng.integers(0, array.shape[0] - TILE + 1)
        left = rng.integers(0, array.shape[1] - TILE + 1)
        crops.append(array[top : top + TILE, left : left + TILE])
    return np.stack(crops)


def detail(tiles: np.ndarray) -> float:
    """Mean |gradient| of luminance: the detail level DESIGN §6 compares."""
    lum = tiles.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float((np.abs(np.diff(lum, axis=-1)).mean() + np.abs(np.diff(lum, axis=-2)).mean()) / 2)


CLASS_CROPS = 16  # held-out crops per class for the class-matched detail ratio


def class_matched_detail(
    tiles: np.ndarray,
    classes: list[str],
    holdout: Path,
    labels: dict[str, str],
    factor: int,
) -> tuple[float, float] | None:
    """(detail ratio, share of tiles it covers) with each generated tile compared with
    held-out imagery of its own class. The plain ratio compares a world that is mostly
    savanna and forest with a held-out set that is a third towns, whose detail rises
    as they are downsampled while natural ground's falls: a measure of the mix, not
    of how any surface is drawn. Classes the held-out set lacks are left out."""
    ratio = covered = 0.0
    for cls in sorted(set(classes)):
        names = {name for name, c in labels.items() if c == cls}
        try:
            held = scaled_crops(holdout, CLASS_CROPS, factor, seed=13, names=names)
        except ValueError:  # no held-out image of this class at this resolution
            continue
        mine = tiles[[i for i, c in enumerate(classes) if c == cls]]
        ratio += len(mine) * detail(mine) / max(detail(held), 1e-9)
        covered += len(mine)
    if not covered:
        return None
    return ratio / covered, covered / len(classes)


EVAL_PLACES = 4


def _eval_regions(model_id: str, n: int, zoom: int = EVAL_ZOOM) -> tuple[World, list[Region]]:
    """About n tiles at ``zoom`` in blocks at ``EVAL_PLACES`` random places on land of the
    default world (with the model under test), each generated through a cascade two levels
    deep. Places are drawn before anything is looked at, never picked by class."""

    world = DEFAULT_WORLD.model_copy(
        update={"id": "model-eval", "model": model_id, "min_zoom": zoom - 2, "max_zoom": zoom}
    )
    side = max(1, int(np.ceil(np.sqrt(n / EVAL_PLACES))))
    places = random_places(world, EVAL_PLACES, seed=7)
    return world, [region_at(world, lon, lat, zoom, side) for lon, lat in places]


def prior_only_tiles(
    model_id: str, n: int, models_dir: Path | None, zoom: int = EVAL_ZOOM
) -> np.ndarray | None:
    """The ablation: the same tiles drawn by the model's texture prior alone, no sampling."""

    world, regions = _eval_regions(model_id, n, zoom)
    tiles = []
    for region in regions:
        mosaic = prior_alone(world, region, WorkerSettings(models_dir=models_dir))
        if mosaic is None:
            return None
        tiles.append(_split(mosaic, region))
    return np.concatenate(tiles)[:n]


def without_learned_step(model_id: str, models_dir: Path | None, scratch: Path) -> tuple[str, Path]:
    """The ablation of the network: a copy of the model with ``learned_step: false`` (the
    same cascade, texture render and parent projection, no UNet call), registered in a
    scratch registry under ``scratch``. Returns (its id, that registry's folder)."""
    import json
    import shutil

    registry = ModelRegistry.from_settings(models_dir)
    entry = registry.verify(model_id)
    root = scratch / "ablation-models"
    variant = f"{entry.name}@{entry.version}-without-learned-step"
    target = root / entry.name / f"{entry.version}-without-learned-step"
    if not target.exists():
        with tempfile.TemporaryDirectory(prefix="synthtiles-ablation-") as tmp:
            folder = Path(tmp) / "model"
            shutil.copytree(entry.path, folder, ignore=shutil.ignore_patterns("manifest.json"))
            config = json.loads((folder / "conditioning.json").read_text())
            config["learned_step"] = False
            ModelRegistry([root]).add(folder, variant, config=config)
    return variant, root


def _split(mosaic: np.ndarray, region: Region) -> np.ndarray:
    tiles = []
    for x, y in region.tiles():
        ox, oy = (x - region.x0) * TILE, (y - region.y0) * TILE
        tiles.append(mosaic[oy : oy + TILE, ox : ox + TILE])
    return np.stack(tiles)


def generate_tiles(
    model_id: str, n: int, models_dir: Path | None, zoom: int = EVAL_ZOOM
) -> tuple[np.ndarray, list[str]]:

    world, regions = _eval_regions(model_id, n, zoom)
    settings = WorkerSettings(models_dir=models_dir)
    tiles, classes = [], []
    for region in regions:
        with tempfile.TemporaryDirectory(prefix="synthtiles-model-eval-") as tmp:
            started = time.perf_counter()
            made = generate_region(world, Path(tmp), region, "row-major", 1, settings)
            print(
                f"generated {region.width * region.height} tiles at z{zoom} ({made} units) in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
            mosaic = read_mosaic(world, Path(tmp), region)
        tiles.append(_split(mosaic, region))
        for layout in _tile_classes(world, region):
            counts = np.bincount(layout.ravel(), minlength=len(CLASSES))
            classes.append(CLASSES[int(counts.argmax())])
    return np.concatenate(tiles)[:n], classes[:n]


def _tile_classes(world: World, region: Region) -> np.ndarray:
    """(tiles, TILE, TILE) class indices of the region's tiles, in region.tiles() order."""
    left, top = region.x0 * TILE, region.y0 * TILE
    width, height = region.width * TILE, region.height * TILE
    classes = layout_of(world).region(region.zoom, left, top, width, height).classes
    return _split(classes[..., None], region)[..., 0]


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


def evaluate_zooms(
    args: argparse.Namespace,
    features: InceptionFeatures,
    generated_z16: np.ndarray,
    classes_z16: list[str],
    labels: dict[str, str],
) -> dict[str, dict[str, float]]:
    """KID and detail per zoom against the held-out imagery area-downsampled to that zoom's
    ground resolution (zoom 16 ~ the textures' own 2.4 m/px; zoom 14 = 4x down). Zooms
    whose downsampled textures are smaller than a tile (z13 and coarser for these data)
    have no real reference here and are skipped with a note."""
    results: dict[str, dict[str, float]] = {}
    zooms = [int(z) for z in str(args.zooms).split(",") if z]
    print("  per zoom (held-out imagery downsampled to each zoom's ground resolution):")
    for zoom in zooms:
        factor = 2 ** (EVAL_ZOOM - zoom)
        try:
            held = scaled_crops(args.holdout, len(generated_z16), factor, seed=11)
            train = scaled_crops(args.train_data, len(generated_z16), factor, seed=12)
        except ValueError as exc:
            print(f"    z{zoom}: no reference ({exc})")
            continue
        tiles, classes = (
            (generated_z16, classes_z16)
            if zoom == EVAL_ZOOM
            else generate_tiles(args.model, len(generated_z16), args.models_dir, zoom)
        )
        f_gen, f_held, f_train = features(tiles), features(held), features(train)
        entry = {
            "kid": kid(f_gen, f_held)[0],
            "kid_floor": kid(f_train, f_held)[0],
            "detail_ratio": detail(tiles) / max(detail(held), 1e-9),
        }
        line = (
            f"    z{zoom}: KID {entry['kid']:.4f} (floor {entry['kid_floor']:.4f}, ratio "
            f"{entry['kid'] / max(entry['kid_floor'], 1e-9):.2f}), detail ratio "
            f"{entry['detail_ratio']:.2f}"
        )
        matched = class_matched_detail(tiles, classes, args.holdout, labels, factor)
        if matched is not None:
            entry["detail_ratio_class_matched"], entry["class_matched_share"] = matched
            line += f" (class-matched {matched[0]:.2f} over {matched[1] * 100:.0f} % of tiles)"
        if getattr(args, "ablate_learned_step", False):
            variant, variant_dir = without_learned_step(args.model, args.models_dir, args.out)
            plain = generate_tiles(variant, len(tiles), variant_dir, zoom)[0]
            entry["kid_without_learned_step"] = kid(features(plain), f_held)[0]
            entry["detail_ratio_without_learned_step"] = detail(plain) / max(detail(held), 1e-9)
            line += (
                f"; without the learned step KID {entry['kid_without_learned_step']:.4f}, "
                f"detail {entry['detail_ratio_without_learned_step']:.2f}"
            )
        if args.ablate_prior:
            prior_tiles = prior_only_tiles(args.model, len(tiles), args.models_dir, zoom)
            if prior_tiles is not None:
                entry["kid_prior_alone"] = kid(features(prior_tiles), f_held)[0]
                entry["detail_ratio_prior_alone"] = detail(prior_tiles) / max(detail(held), 1e-9)
                line += (
                    f"; prior alone KID {entry['kid_prior_alone']:.4f}, detail "
                    f"{entry['detail_ratio_prior_alone']:.2f}"
                )
        print(line)
        results[str(zoom)] = entry
    return results


def evaluate_model(args: argparse.Namespace) -> int:

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
    per_zoom = evaluate_zooms(args, features, generated, generated_classes, labels)
    metrics = {
        "per_zoom": per_zoom,
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
