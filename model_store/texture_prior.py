"""A texture prior: what each land-cover class looks like up close, as statistics.

A tiny super-resolution model refines what it is given; over a few zoom levels it cannot
invent tree crowns, field rows or roofs out of a flat class colour (measured: tiles came
out as class colours with grain). The prior gives it something to refine: per class, the
colour statistics and Fourier amplitude spectra of a few training textures. Random-phase
synthesis (Galerne, Gousseau & Morel 2011) turns a spectrum into a new, periodic texture
with the same second-order statistics; the phases, and so the training pictures
themselves, are not kept and cannot be recovered from the file.

Per texture the file stores the mean colour, the colour PCA basis, the standard deviation
of each PCA component and the amplitude spectrum of each component (``size`` x ``size``
at the imagery's native resolution), grouped by class. Sampling uses it as an SDEdit start
(see ``model_store.sampling``), not as output: the model redraws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from core.classes import CLASSES
from model_store.chips import IMAGE_SUFFIXES, read_rgb

PRIOR_FILE = "texture_prior.safetensors"
# How the prior is drawn over the world is part of what a world looks like: a change to
# the drawing must make a new version, and a model names the one it uses.
# (renderers in worker/synthesis/):
#   1: over a land-cover class map (texture_render.py)
#   2: over a world plan: relief, water, roads, towns, field parcels (plan_render.py)
#   3: over a world plan from the model's texture bank of photographs (bank_render.py)
#   4: as 3, every term pre-filtered to the pixel (sub-pixel fields average out, crop
#      switching calmed by how many lattice vertices a pixel holds), so the cascade's
#      coarse zooms hold what their finer zooms average to
#   5: as 4, with what stands on the land: parkland trees one by one with their shadows,
#      fields pulled to their region's season, tracks along only some farm-block edges,
#      bare ground with grass held in it, river banks (parkland_render.py)
#   6: as 5, the regional choice of crops an organic field instead of a square lattice
#      (region_render.py)
#   7: as 6, field systems as cadastres: strips of varied width, fields of varied length,
#      margins on some fields only (field_render.py)
#   8: as 7, a margin on most fields: tree lines, or grass strips of the bank's savanna
#      texture, each field's own width (field_render.py)
#   9: as 8, rivers as sandy beds with a low-water thread winding through them, from the
#      plan raster's position across the channel (river_render.py)
#  10: as 9, the fields of a landscape drawn from photographs of its season: what a field
#      is and which photograph follow the regional season, not each field's hash alone
#      (season_render.py)
RENDERER_VERSION = 1
PLAN_RENDERER_VERSION = 2
BANK_RENDERER_VERSIONS = (3, 4, 5, 6, 7, 8, 9, 10)
BANK_RENDERER_VERSION = BANK_RENDERER_VERSIONS[-1]  # what `models add-bank` writes
RENDERERS = (RENDERER_VERSION, PLAN_RENDERER_VERSION, *BANK_RENDERER_VERSIONS)
PLAN_RENDERERS = (PLAN_RENDERER_VERSION, *BANK_RENDERER_VERSIONS)


@dataclass(frozen=True)
class TextureStats:
    """Second-order statistics of one texture (float32 arrays)."""

    mean: np.ndarray  # (3,) RGB mean, 0..255
    basis: np.ndarray  # (3, 3) rows are PCA components
    std: np.ndarray  # (3,) std of each component
    amplitude: np.ndarray  # (3, size, size) normalised amplitude spectrum per component


@dataclass(frozen=True)
class TexturePrior:
    size: int
    classes: Mapping[str, list[TextureStats]]

    def save(self, path: Path) -> None:
        tensors: dict[str, torch.Tensor] = {}
        for cls, stats in self.classes.items():
            for index, s in enumerate(stats):
                key = f"{cls}.{index}"
                tensors[f"{key}.mean"] = torch.from_numpy(s.mean)
                tensors[f"{key}.basis"] = torch.from_numpy(s.basis)
                tensors[f"{key}.std"] = torch.from_numpy(s.std)
                tensors[f"{key}.amplitude"] = torch.from_numpy(s.amplitude).half()
        save_file(tensors, str(path), metadata={"size": str(self.size)})

    @classmethod
    def load(cls, path: Path) -> TexturePrior:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as handle:
            size = int((handle.metadata() or {}).get("size", 0))
        tensors = load_file(str(path))
        classes: dict[str, list[TextureStats]] = {}
        for name in CLASSES:
            index = 0
            while f"{name}.{index}.mean" in tensors:
                key = f"{name}.{index}"
                classes.setdefault(name, []).append(
                    TextureStats(
                        mean=tensors[f"{key}.mean"].numpy(),
                        basis=tensors[f"{key}.basis"].numpy(),
                        std=tensors[f"{key}.std"].numpy(),
                        amplitude=tensors[f"{key}.amplitude"].float().numpy(),
                    )
                )
                index += 1
        if not classes or size <= 0:
            raise ValueError(f"{path} holds no texture prior")
        return cls(size, classes)


def texture_stats(image: np.ndarray, size: int) -> TextureStats:
    """Statistics of one RGB image, averaged over its size x size windows (Welch's method:
    a Hann window per crop, so crop edges do not add a cross to the spectrum)."""
    pixels = image.reshape(-1, 3).astype(np.float64)
    mean = pixels.mean(0)
    _, vectors = np.linalg.eigh(np.cov((pixels - mean).T))
    basis = vectors[:, ::-1].T  # strongest component first
    projected = (image.astype(np.float64) - mean) @ basis.T  # (H, W, 3)
    window = np.outer(np.hanning(size), np.hanning(size))
    step = size // 2
    power = np.zeros((3, size, size))
    crops = 0
    for top in range(0, image.shape[0] - size + 1, step):
        for left in range(0, image.shape[1] - size + 1, step):
            crop = projected[top : top + size, left : left + size].transpose(2, 0, 1)
            crop = crop - crop.mean((1, 2), keepdims=True)
            power += np.abs(np.fft.fft2(crop * window)) ** 2
            crops += 1
    if crops == 0:
        raise ValueError(f"image {image.shape[:2]} is smaller than the {size}-px window")
    amplitude = np.sqrt(power / crops)
    amplitude[:, 0, 0] = 0.0  # zero mean: the colour comes from ``mean``
    amplitude /= np.maximum(np.sqrt((amplitude**2).sum((1, 2), keepdims=True)), 1e-9)
    return TextureStats(
        mean=mean.astype(np.float32),
        basis=np.ascontiguousarray(basis, dtype=np.float32),
        std=projected.reshape(-1, 3).std(0).astype(np.float32),
        amplitude=amplitude.astype(np.float32),
    )


def build_texture_prior(
    folder: Path, labels: Mapping[str, str], size: int = 128, per_class: int = 8
) -> TexturePrior:
    """Up to ``per_class`` textures per class, spread evenly over the class's images."""
    by_class: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        cls = labels.get(path.name)
        if path.suffix.lower() in IMAGE_SUFFIXES and cls in CLASSES:
            by_class.setdefault(cls, []).append(path)
    classes: dict[str, list[TextureStats]] = {}
    for cls in CLASSES:
        paths = by_class.get(cls, [])
        if not paths:
            continue
        picks = np.unique(np.linspace(0, len(paths) - 1, min(per_class, len(paths))).round())
        stats = []
        for index in picks.astype(int):
            image = read_rgb(paths[index])
            if min(image.shape[:2]) >= size:
                stats.append(texture_stats(image, size))
        if stats:
            classes[cls] = stats
    if not classes:
        raise ValueError(f"no labelled images of at least {size} px in {folder}")
    return TexturePrior(size, classes)


def synthesize(stats: TextureStats, seed: int) -> np.ndarray:
    """A new periodic texture (size, size, 3) float32 RGB (0..255 scale, zero mean) with the
    statistics' spectrum: one random phase shared by the components keeps edges aligned."""
    size = stats.amplitude.shape[-1]
    white = np.random.default_rng(seed).standard_normal((size, size))
    spectrum = np.fft.fft2(white)
    phase = spectrum / np.maximum(np.abs(spectrum), 1e-12)
    components = np.real(np.fft.ifft2(stats.amplitude * phase[None]))
    components /= np.maximum(components.std((1, 2), keepdims=True), 1e-9)
    components *= stats.std[:, None, None]
    return (components.transpose(1, 2, 0) @ stats.basis).astype(np.float32)


def attach_texture_prior(
    model_folder: Path,
    data: Path,
    labels: Mapping[str, str],
    strength: float,
    size: int = 128,
    per_class: int = 8,
    cell_px: int = 96,
    steps: int | None = None,
    renderer: int = RENDERER_VERSION,
) -> None:
    """Build a prior from ``data`` into a model folder and name it in conditioning.json, so
    sampling starts from it (SDEdit at ``strength``: 1 is pure noise, 0 the prior itself;
    of a schedule of ``steps`` DDIM steps, the last round(steps * strength) run)."""
    import json

    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {RENDERERS}, got {renderer}")
    build_texture_prior(data, labels, size, per_class).save(model_folder / PRIOR_FILE)
    path = model_folder / "conditioning.json"
    conditioning = json.loads(path.read_text())
    if steps is not None:
        conditioning["steps"] = steps
    conditioning["texture_prior"] = {
        "file": PRIOR_FILE,
        "renderer": renderer,
        "strength": strength,
        "native_zoom": int(conditioning.get("finest_zoom", 16)),
        "cell_px": cell_px,
        "size": size,
        "per_class": per_class,
    }
    path.write_text(json.dumps(conditioning, indent=2))
