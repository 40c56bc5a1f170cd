"""Training data for the default model: FlightGear's photographic aerial terrain textures.

    python -m model_store.datasets.flightgear --out data/flightgear [--deb PATH]

Gets Debian's ``flightgear-data-base`` package (``apt-get download``), extracts only
``usr/share/games/flightgear/Textures/Terrain/``, curates the textures (drops masks,
reliefs, overlays, colour maps, DDS copies, grey-scale and flat placeholders, snow/ice,
airport surfaces and seasonal recolours), maps each to a layout class by its file name, and
splits off the held-out textures (and every variant of them) for evaluation only. It writes
``{out}/train/*.png``, ``{out}/holdout/*.png`` and ``{out}/textures.csv``
(file, class, split). The textures are GPL-2+ (FlightGear); they are not committed.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from core.classes import CLASSES

TERRAIN = "usr/share/games/flightgear/Textures/Terrain"
HOLDOUT_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "holdout-textures.txt"

# Not photographs of ground: masks, relief/overlay layers, colour maps, placeholders.
_NOT_PHOTO = re.compile(
    r"mask|relief|overlay|colors|structure|grain|unknown|void|dds|crop-colors|noise|"
    r"glacier|packice|snow|ice|airport|asphalt|carpark|tarmac|runway|golf|cemetery|transport|"
    r"lava|tidal"
)
# Seasonal recolours of a texture that is kept in its summer form.
_SEASON = re.compile(r"[-_.]?(autumn|winter|spring|summer)")
_VARIANT_NOISE = re.compile(
    r"(autumn|winter|spring|summer|hires|large|matched|green|[0-9]+|[-_.a-c]$)"
)

# First matching rule wins: (class, keywords in the file name).
CLASS_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("water", ("water",)),
    (
        "urban",
        (
            "city",
            "town",
            "suburb",
            "industr",
            "commercial",
            "slum",
            "port",
            "urban",
            "village",
            "18th",
        ),
    ),
    (
        "forest",
        (
            "forest",
            "deciduous",
            "evergreen",
            "coniferous",
            "rainforest",
            "wood",
            "jungle",
            "bush-dense",
        ),
    ),
    ("cropland", ("crop", "rice", "orchard", "countryside", "farm", "vineyard", "field")),
    (
        "bare",
        (
            "sand",
            "desert",
            "dune",
            "rock",
            "gravel",
            "dirt",
            "mud",
            "cliff",
            "bare",
            "drylake",
            "wash",
        ),
    ),
    (
        "grassland",
        (
            "grass",
            "shrub",
            "scrub",
            "heath",
            "bush",
            "pampas",
            "cerrado",
            "tundra",
            "marsh",
            "savanna",
            "caatinga",
            "steppe",
            "pasture",
            "pantanal",
            "herb",
        ),
    ),
]


def texture_class(name: str) -> str | None:
    lowered = name.lower()
    for cls, keywords in CLASS_RULES:
        if any(keyword in lowered for keyword in keywords):
            return cls
    return None


def variant_base(name: str) -> str:
    """A texture's name with season, number and size suffixes removed: variants share it."""
    stem = Path(name).stem.lower()
    previous = None
    while previous != stem:
        previous = stem
        stem = _VARIANT_NOISE.sub("", stem).strip("-_.")
    return stem


def load_holdout(path: Path = HOLDOUT_FILE) -> set[str]:
    return {
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def is_photographic(image: Image.Image, allow_small: bool) -> bool:
    rgb = np.asarray(image.convert("RGB"), np.float32)
    if not allow_small and min(rgb.shape[:2]) < 256:
        return False
    if rgb.std() < 2.0:  # flat placeholder
        return False
    chroma = np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()
    return chroma > 3.0  # grey-scale maps are masks, not photographs


def curate(terrain_dir: Path, holdout: set[str]) -> list[tuple[Path, str, str]]:
    holdout_bases = {variant_base(name) for name in holdout}
    chosen: list[tuple[Path, str, str]] = []
    for path in sorted(terrain_dir.glob("*.png")):
        name = path.name
        cls = texture_class(name)
        if cls is None or _NOT_PHOTO.search(name.lower()):
            continue
        if name in holdout:
            split = "holdout"
        elif variant_base(name) in holdout_bases:
            continue  # a variant of a held-out texture: never train on it
        elif _SEASON.search(Path(name).stem.lower()):
            continue
        else:
            split = "train"
        with Image.open(path) as image:
            if not is_photographic(image, allow_small=cls == "water"):
                continue
        chosen.append((path, cls, split))
    return chosen


def extract(deb: Path, into: Path) -> Path:
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    subprocess.run(
        ["tar", "-x", "-C", str(into), "--wildcards", f"./{TERRAIN}/*"],
        stdin=tar.stdout,
        check=True,
    )
    tar.wait()
    return into / TERRAIN


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/flightgear"))
    parser.add_argument("--deb", type=Path, help="an already downloaded flightgear-data-base .deb")
    parser.add_argument("--terrain-dir", type=Path, help="an already extracted Terrain folder")
    parser.add_argument("--holdout", type=Path, default=HOLDOUT_FILE)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flightgear-") as tmp:
        terrain = args.terrain_dir
        if terrain is None:
            deb = args.deb
            if deb is None:
                subprocess.run(["apt-get", "download", "flightgear-data-base"], cwd=tmp, check=True)
                deb = next(Path(tmp).glob("flightgear-data-base_*.deb"))
            terrain = extract(deb, Path(tmp))
        chosen = curate(terrain, load_holdout(args.holdout))
        for split in ("train", "holdout"):
            (args.out / split).mkdir(parents=True, exist_ok=True)
        with (args.out / "textures.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "class", "split"])
            for path, cls, split in chosen:
                shutil.copy2(path, args.out / split / path.name)
                writer.writerow([path.name, cls, split])
    counts: dict[tuple[str, str], int] = {}
    for _, cls, split in chosen:
        counts[(split, cls)] = counts.get((split, cls), 0) + 1
    for split in ("train", "holdout"):
        summary = ", ".join(f"{cls} {counts.get((split, cls), 0)}" for cls in CLASSES)
        print(
            f"{split}: {sum(v for (s, _), v in counts.items() if s == split)} textures ({summary})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
