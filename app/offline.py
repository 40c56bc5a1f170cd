"""The offline viewer bundle: the static PMTiles page and its vendored scripts, copied beside
a package so an exercise laptop needs no tile server (only a browser, or any static server)."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

from app.routers.viewer import STATIC_DIR

# What offline.html loads, relative to the static folder.
BUNDLED = [
    "offline-viewer.js",
    "mgrs-grid.js",  # the lat/lon + MGRS readout
    "viewer.css",
    "favicon.png",
    "vendor/maplibre",
    "vendor/pmtiles",
    "vendor/mgrs",
]
_PACKAGE_LINE = '<meta name="synthtiles-package" content="">'


def write_offline_viewer(directory: Path, package_name: str) -> Path:
    """Writes `index.html` and `static/` into `directory`; the page opens `package_name`."""
    directory.mkdir(parents=True, exist_ok=True)
    static = directory / "static"
    for name in BUNDLED:
        source, target = STATIC_DIR / name, static / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    page = (STATIC_DIR / "offline.html").read_text()
    if _PACKAGE_LINE not in page:
        raise RuntimeError("offline.html lost its package placeholder line")
    named = f'<meta name="synthtiles-package" content="{html.escape(package_name)}">'
    index = directory / "index.html"
    index.write_text(page.replace(_PACKAGE_LINE, named))
    return index
