"""The topographic map style (GET /worlds/{world}/map-style.json): MapLibre's own validator
accepts it, every asset it names is served by the app (glyphs too), and Chromium draws it
with MapLibre into a map with land cover, contours, water, roads and named places."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import numpy as np
import pytest
from PIL import Image

from core.layers.map_style import FONTS
from tests.stack import ROOT, Stack
from tests.test_vector_tiles import RICH_TILE
from tools.build_glyphs import FONTS as GLYPH_FONTS
from tools.build_glyphs import OUT as GLYPHS_DIR
from tools.build_glyphs import RANGES, build, glyphs_message_class

VALIDATOR = ROOT / "tools" / "node" / "node_modules" / ".bin" / "gl-style-validate"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def _style(stack: Stack, query: str = "") -> dict[str, Any]:
    response = httpx.get(f"{stack.base_url}/worlds/planland/map-style.json{query}", timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _validate(style: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: MapLibre's style validator (gl-style-validate) is JS")
    if not VALIDATOR.exists():
        pytest.fail("run `npm ci --prefix tools/node` first (see .ci/run)")
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style))
    return subprocess.run([str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.integration
def test_the_served_style_passes_maplibres_validator(stack: Stack, tmp_path: Path) -> None:
    style = _style(stack)
    result = _validate(style, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr
    # The validator does find faults (so the check above can fail): a layer on no source.
    style["layers"].append({"id": "broken", "type": "line", "source": "nowhere"})
    broken = _validate(style, tmp_path)
    assert broken.returncode != 0 and 'source "nowhere" not found' in broken.stdout


@pytest.mark.integration
def test_every_asset_of_the_style_is_served_by_the_app(stack: Stack) -> None:
    style = _style(stack, "?key=abc")
    assert style["version"] == 8
    for source in style["sources"].values():
        assert source["url"].startswith(stack.base_url) and "key=abc" in source["url"]
        document = httpx.get(source["url"], timeout=60).json()
        tile = document["tiles"][0].format(z=RICH_TILE[0], x=RICH_TILE[1], y=RICH_TILE[2])
        assert httpx.get(tile, timeout=120).status_code == 200, tile
    assert style["sources"]["synthtiles-terrain"]["type"] == "raster-dem"
    assert style["glyphs"].startswith(f"{stack.base_url}/static/vendor/glyphs/")
    assert "sprite" not in style  # no icons: nothing more to fetch
    fonts = {
        font for layer in style["layers"] for font in layer.get("layout", {}).get("text-font", [])
    }
    assert fonts and fonts <= set(FONTS)
    hillshade = [layer for layer in style["layers"] if layer["type"] == "hillshade"]
    assert hillshade and hillshade[0]["source"] == "synthtiles-terrain"


def _glyph_ids(body: bytes) -> set[int]:
    message = glyphs_message_class()()
    message.ParseFromString(body)
    return {glyph.id for stack in message.stacks for glyph in stack.glyphs}


@pytest.mark.integration
def test_the_served_glyphs_draw_every_place_name_and_height(stack: Stack) -> None:
    style = _style(stack)
    fonts = {
        font for layer in style["layers"] for font in layer.get("layout", {}).get("text-font", [])
    }
    tile = httpx.get(
        f"{stack.base_url}/worlds/planland/vector/{RICH_TILE[0]}/{RICH_TILE[1]}/{RICH_TILE[2]}.pbf",
        timeout=120,
    ).content
    names = [f["properties"]["name"] for f in mapbox_vector_tile.decode(tile)["place"]["features"]]
    wanted = {ord(c) for c in "".join(names).upper() + "".join(names) + "0123456789 -'"}
    assert names
    for font in fonts:
        ids: set[int] = set()
        for start, end in RANGES:
            url = style["glyphs"].replace("{fontstack}", font).replace("{range}", f"{start}-{end}")
            response = httpx.get(url, timeout=30)
            assert response.status_code == 200, url
            ids |= _glyph_ids(response.content)
        assert wanted <= ids, (font, sorted(wanted - ids))


def test_the_committed_glyphs_are_what_the_script_builds(tmp_path: Path) -> None:
    if not all((DEJAVU / name).exists() for name in GLYPH_FONTS.values()):
        pytest.skip(f"the DejaVu fonts are not in {DEJAVU} (Debian: fonts-dejavu-core)")
    for path in build(DEJAVU, tmp_path):
        committed = GLYPHS_DIR / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), committed
    assert (GLYPHS_DIR / "LICENSE-DejaVu.txt").exists()


@pytest.mark.integration
def test_chromium_draws_the_style_as_a_map(stack: Stack, tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    from tools.render_map import CHROMIUM, render

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser test (apt-get install chromium)")
    z, x, y = RICH_TILE
    lon = (x + 0.5) / 2**z * 360.0 - 180.0
    lat = float(np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (y + 0.5) / 2**z)))))
    shot = tmp_path / "map.png"
    report = render(
        stack.base_url, "/worlds/planland/map-style.json", (lon, lat), z + 0.5, (640, 480), shot
    )
    assert report["errors"] == []
    drawn = report["rendered"]
    groups = {
        "land cover": ("landcover",),
        "contours": ("contour", "contour-index"),
        "water": ("water",),
        "rivers": ("river", "stream"),
        "roads": ("road-main", "road-minor", "road-track"),
        "places": ("place-city", "place-town", "place-village"),
    }
    for what, layers in groups.items():
        assert sum(drawn.get(layer, 0) for layer in layers) > 0, (what, drawn)
    picture = np.asarray(Image.open(shot).convert("RGB"), np.float32)
    assert picture.std() > 8  # a map, not a blank page
