"""A texture bank: crops of the training photographs, by surface, that a renderer draws
from by example (DESIGN §5: a model may carry pictures as well as weights).

The texture prior (``texture_prior.py``) keeps second-order statistics only, which is why
renders drawn from it never show photographic texture. The bank keeps the pixels: one
square crop (512 px, or the texture tiled up to it) of each training texture, stored as
JPEG beside ``bank.json``, which names each crop's source texture, land-cover class and
*surface* (a finer kind of ground than the class: dry savanna, green grass, wetland, rock,
soil, sand, crop, town, industry...). Held-out textures never enter it:
the bank is built from the training split only and records its sources. Its files sit in
the model folder, so the manifest hashes them like the weights.

At load time each crop becomes a pyramid of area-downsampled levels (level k is the crop
at 2^k times the native ground size of a pixel), so zoom z draws level native_zoom - z and
a pixel's colour is the average of its four children's (z+1 refines z).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

BANK_FOLDER = "texture_bank"
BANK_INDEX = "bank.json"
CROP_PX = 512
JPEG_QUALITY = 90

# Surfaces by file name, first match wins within the texture's class; a texture that
# matches no rule of its class stays out of the bank.
SURFACE_RULES: dict[str, list[tuple[str, str]]] = {
    "water": [("water", r".")],
    "forest": [("forest", r"forest|evergreen|rainforest|bush-dense|coniferous")],
    # Only single-crop photographs: the patchwork textures hold whole field systems, which
    # would draw fields inside fields.
    "cropland": [("crop", r"irrcrop[0-9]|drycrop|orchard")],
    "grassland": [
        ("wetland", r"marsh|pantanal"),
        (
            "grass",
            r"^grass\.png|grass10|grass_green|grass_hires|grass-caribbean|pampas-grass|"
            r"tundra|herbtundra|grassland-green|shrub-green",
        ),
        ("savanna", r"."),
    ],
    "bare": [
        ("rock", r"rock|cliff|dark_gravel"),
        ("sand", r"sand|dune"),
        ("soil", r"."),
    ],
    "urban": [
        ("industry", r"industr|port"),
        ("town", r"."),
    ],
}
# Textures that are not one surface (fields with forest blocks, a texture of the wrong
# scale for any surface here: a container port, warehouse roofs a block wide) or whose
# colours are far from any real scene's (the saturated yellow-green "grass" recolours).
EXCLUDED = re.compile(r"cropwood|dunes-lencois|grass_green_hires|savanna-grass2|industry|port")


# What renderer 3 draws from: a bank missing one cannot draw a world.
DRAWN_SURFACES = (
    "crop",
    "forest",
    "grass",
    "industry",
    "rock",
    "sand",
    "savanna",
    "soil",
    "town",
    "water",
    "wetland",
)


def missing_surfaces(surfaces: set[str]) -> list[str]:
    return [name for name in DRAWN_SURFACES if name not in surfaces]


def surface_of(file_name: str, cls: str) -> str | None:
    if EXCLUDED.search(file_name.lower()):
        return None
    for surface, pattern in SURFACE_RULES.get(cls, []):
        if re.search(pattern, file_name.lower()):
            return surface
    return None


def square_crop(image: np.ndarray, size: int = CROP_PX) -> np.ndarray:
    """The centre ``size`` square of a texture at its own resolution; a smaller texture is
    tiled up to it (FlightGear's terrain textures are made to tile, so this adds no seam)."""
    height, width = image.shape[:2]
    side = min(height, width)
    if side < size:
        image = image[:side, :side]
        reps = -(-size // side)
        image = np.tile(image, (reps, reps, 1))
        return np.ascontiguousarray(image[:size, :size])
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def build_texture_bank(
    data: Path, labels_csv: Path, out: Path, holdout: set[str] | None = None
) -> dict:
    """Write ``out/bank.json`` and one JPEG crop per training texture; return the index.
    ``labels_csv`` has columns file, class and optionally split (only ``train`` rows are
    used); names in ``holdout`` are refused outright."""
    holdout = holdout or set()
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    with labels_csv.open() as handle:
        for row in csv.DictReader(handle):
            if row.get("split", "train") != "train":
                continue
            name, cls = row["file"], row["class"]
            if name in holdout:
                raise ValueError(f"{name} is a held-out texture; it cannot enter the bank")
            surface = surface_of(name, cls)
            if surface is None:
                continue
            rgb = np.asarray(Image.open(data / name).convert("RGB"))
            crop = square_crop(rgb)
            file_name = f"{Path(name).stem}.jpg"
            Image.fromarray(crop).save(out / file_name, quality=JPEG_QUALITY, subsampling=0)
            entries.append({"file": file_name, "source": name, "class": cls, "surface": surface})
    entries.sort(key=lambda e: (e["surface"], e["file"]))
    index = {"crop_px": CROP_PX, "textures": entries}
    (out / BANK_INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return index


def pyramid(crop: np.ndarray) -> list[np.ndarray]:
    """Area-downsampled levels of a crop, level 0 first, down to one pixel (uint8)."""
    level = crop.astype(np.float32)
    levels = [crop]
    while level.shape[0] > 1:
        size = level.shape[0] // 2
        level = level.reshape(size, 2, size, 2, 3).mean((1, 3))
        levels.append(np.clip(level.round(), 0, 255).astype(np.uint8))
    return levels


@dataclass(frozen=True)
class Surface:
    """The crops of one surface, stacked per level: ``levels[k]`` is (n, S/2^k, S/2^k, 3)."""

    name: str
    sources: tuple[str, ...]
    levels: tuple[np.ndarray, ...]
    means: np.ndarray  # (n, 3) float32

    @property
    def count(self) -> int:
        return len(self.sources)

    @property
    def crop_px(self) -> int:
        return int(self.levels[0].shape[1])

    def with_shared_mean(self) -> Surface:
        """The same crops, each shifted to the surface's mean colour: their texture
        without their tones (for detail laid over a colour drawn otherwise)."""
        shift = self.means.mean(0) - self.means  # (n, 3)
        levels = tuple(
            np.clip(np.rint(level + shift[:, None, None, :]), 0, 255).astype(level.dtype)
            for level in self.levels
        )
        means = np.broadcast_to(self.means.mean(0), self.means.shape).astype(np.float32)
        return replace(self, levels=levels, means=means)


@dataclass(frozen=True)
class TextureBank:
    surfaces: dict[str, Surface]

    @classmethod
    def load(cls, folder: Path) -> TextureBank:
        index = json.loads((folder / BANK_INDEX).read_text())
        grouped: dict[str, list[tuple[str, np.ndarray]]] = {}
        for entry in index["textures"]:
            rgb = np.asarray(Image.open(folder / entry["file"]).convert("RGB"))
            grouped.setdefault(entry["surface"], []).append((entry["source"], rgb))
        surfaces = {}
        for name, items in sorted(grouped.items()):
            pyramids = [pyramid(rgb) for _, rgb in items]
            levels = tuple(np.stack([p[k] for p in pyramids]) for k in range(len(pyramids[0])))
            means = np.stack([rgb.reshape(-1, 3).mean(0) for _, rgb in items]).astype(np.float32)
            surfaces[name] = Surface(name, tuple(s for s, _ in items), levels, means)
        return cls(surfaces)

    def surface(self, name: str) -> Surface:
        try:
            return self.surfaces[name]
        except KeyError:
            raise KeyError(
                f"the texture bank has no surface {name!r} (it has {sorted(self.surfaces)})"
            ) from None


__all__ = [
    "BANK_FOLDER",
    "BANK_INDEX",
    "DRAWN_SURFACES",
    "Surface",
    "TextureBank",
    "build_texture_bank",
    "missing_surfaces",
    "pyramid",
    "square_crop",
    "surface_of",
]
