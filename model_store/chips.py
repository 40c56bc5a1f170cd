"""Training imagery: chips, the black/white chip filter, multi-scale sources, conditioning pairs."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.classes import CLASS_INDEX
from model_store.conditioning import degrade

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


@dataclass(frozen=True)
class ChipFilter:
    """The thesis's rule: drop chips with more than 0.05 % black or 0.05 % white pixels."""

    max_black_fraction: float = 0.0005
    max_white_fraction: float = 0.0005
    black_level: int = 0
    white_level: int = 255

    def keep(self, chip: np.ndarray) -> bool:
        pixels = chip.shape[0] * chip.shape[1]
        black = np.all(chip <= self.black_level, axis=-1).sum() / pixels
        white = np.all(chip >= self.white_level, axis=-1).sum() / pixels
        return black <= self.max_black_fraction and white <= self.max_white_fraction


def read_rgb(path: Path) -> np.ndarray:
    """An image as (H, W, 3) uint8; GeoTIFFs through rasterio (first three bands)."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as dataset:
            bands = dataset.read(indexes=[1, 2, 3] if dataset.count >= 3 else [1, 1, 1])
        if bands.dtype != np.uint8:  # e.g. Sentinel-2 reflectance: stretch to 8 bits
            high = np.percentile(bands, 99.5) or 1
            bands = np.clip(bands.astype(np.float32) / high * 255, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(bands.transpose(1, 2, 0))
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def cut_chips(image: np.ndarray, size: int, keep: ChipFilter) -> list[np.ndarray]:
    """Non-overlapping size x size chips that pass the filter."""
    chips = []
    for top in range(0, image.shape[0] - size + 1, size):
        for left in range(0, image.shape[1] - size + 1, size):
            chip = image[top : top + size, left : left + size]
            if keep.keep(chip):
                chips.append(chip)
    return chips


def load_labels(folder: Path, labels_csv: Path | None, rule: str | None) -> dict[str, str]:
    """Class per file: a CSV (file,class) or a regex whose first group is the class."""
    labels: dict[str, str] = {}
    if labels_csv is not None:
        with labels_csv.open() as handle:
            for row in csv.DictReader(handle):
                labels[row["file"]] = row["class"]
    if rule is not None:
        pattern = re.compile(rule)
        for path in folder.iterdir():
            match = pattern.search(path.name)
            if match and path.name not in labels:
                labels[path.name] = match.group(1)
    unknown = {c for c in labels.values() if c not in CLASS_INDEX}
    if unknown:
        raise ValueError(f"unknown classes {sorted(unknown)}; known: {sorted(CLASS_INDEX)}")
    return labels


@dataclass
class Source:
    """One image at one downscale level, as a float tensor in [-1, 1]."""

    pixels: torch.Tensor  # (3, H, W)
    class_index: int
    level: int  # 0: native resolution, 1: 2x down, 2: 4x down


def load_sources(
    folder: Path,
    labels: dict[str, str],
    crop: int,
    levels: int,
    default_class: str,
    chip_filter: ChipFilter | None = None,
) -> list[Source]:
    """Every image of the folder at every downscale level that still fits a crop.

    Images whose chips mostly fail the black/white filter (scan edges, nodata) are cut to
    their passing chips first, so no training crop contains such pixels.
    """
    chip_filter = chip_filter or ChipFilter()
    sources: list[Source] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        rgb = read_rgb(path)
        pieces = [rgb] if chip_filter.keep(rgb) else cut_chips(rgb, max(crop * 4, 256), chip_filter)
        class_index = CLASS_INDEX[labels.get(path.name, default_class)]
        for piece in pieces:
            image = Image.fromarray(piece)
            for level in range(levels):
                factor = 2**level
                width, height = image.width // factor, image.height // factor
                if min(width, height) < crop:
                    break
                scaled = image.resize((width, height), Image.BOX) if factor > 1 else image
                array = np.asarray(scaled, np.float32) / 127.5 - 1.0
                sources.append(
                    Source(
                        torch.from_numpy(array).permute(2, 0, 1).contiguous(), class_index, level
                    )
                )
    if not sources:
        raise ValueError(f"no usable images in {folder}")
    return sources


@dataclass
class Batch:
    target: torch.Tensor  # (B, 3, S, S)
    parent_up: torch.Tensor
    known: torch.Tensor
    mask: torch.Tensor  # (B, 1, S, S)
    class_map: torch.Tensor  # (B, S, S)
    scale: torch.Tensor  # (B,)


class PairSampler:
    """Random conditioning pairs: class-balanced crops, flips, known border strips."""

    def __init__(self, sources: list[Source], crop: int, levels: int, seed: int = 0) -> None:
        self.sources = sources
        self.crop = crop
        self.levels = levels
        self.rng = np.random.default_rng(seed)
        by_class: dict[int, list[int]] = {}
        for index, source in enumerate(sources):
            by_class.setdefault(source.class_index, []).append(index)
        self.by_class = list(by_class.values())

    def sample(self, batch_size: int) -> Batch:
        crops, classes, scales = [], [], []
        for _ in range(batch_size):
            group = self.by_class[self.rng.integers(len(self.by_class))]
            source = self.sources[group[self.rng.integers(len(group))]]
            _, height, width = source.pixels.shape
            top = int(self.rng.integers(0, height - self.crop + 1))
            left = int(self.rng.integers(0, width - self.crop + 1))
            chip = source.pixels[:, top : top + self.crop, left : left + self.crop]
            chip = torch.rot90(chip, int(self.rng.integers(4)), (1, 2))
            if self.rng.random() < 0.5:
                chip = chip.flip(2)
            crops.append(chip)
            classes.append(source.class_index)
            scales.append(source.level / max(1, self.levels - 1))
        target = torch.stack(crops)
        mask = self._border_masks(batch_size)
        class_map = torch.tensor(classes).view(-1, 1, 1).expand(-1, self.crop, self.crop)
        return Batch(
            target,
            degrade(target),
            target * mask,
            mask,
            class_map.contiguous(),
            torch.tensor(scales, dtype=torch.float32),
        )

    def _border_masks(self, batch_size: int) -> torch.Tensor:
        """Known strips along random sides, as neighbours of lower phase would give."""
        masks = torch.zeros(batch_size, 1, self.crop, self.crop)
        for index in range(batch_size):
            for side in range(4):
                if self.rng.random() < 0.5:
                    width = int(self.rng.integers(4, self.crop // 4 + 1))
                    if side == 0:
                        masks[index, :, :width, :] = 1
                    elif side == 1:
                        masks[index, :, -width:, :] = 1
                    elif side == 2:
                        masks[index, :, :, :width] = 1
                    else:
                        masks[index, :, :, -width:] = 1
        return masks
