"""Renders a world's topographic map style (GET /worlds/{world}/map-style.json) in Chromium
with the server's own MapLibre, and saves a screenshot: how the docs' map pictures are made.

    .venv/bin/python -m tools.render_map --base-url http://localhost:8000 \\
        --center -24.47,-5.76 --zoom 13 --out docs/map-style-carana-z13.png

Needs a running synthtiles API and Debian's Chromium (/usr/bin/chromium, driven by
Playwright as the browser tests drive it). Nothing is loaded from outside the server.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# The browser and flags the browser tests drive it with (SwiftShader WebGL, no network).
from tests.test_viewers_seed_export import CHROMIUM, CHROMIUM_FLAGS

# Served in place of a page of the API (same origin, so the API's CSP lets it fetch).
PAGE_PATH = "/__synthtiles-map-render"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="/static/vendor/maplibre/maplibre-gl.css">
<style>html, body, #map {{ margin: 0; width: 100%; height: 100%; }}</style>
<script src="/static/vendor/maplibre/maplibre-gl.js"></script>
</head><body><div id="map"></div><script>
window.mapErrors = [];
window.map = new maplibregl.Map({{
  container: "map", style: {style}, center: {center}, zoom: {zoom},
  attributionControl: false, fadeDuration: 0,
  canvasContextAttributes: {{preserveDrawingBuffer: true}}
}});
map.on("error", (e) => window.mapErrors.push(String(e.error && e.error.message || e)));
map.once("idle", () => {{ window.mapIdle = true; }});
</script></body></html>
"""


def render(
    base_url: str,
    style_path: str,
    center: tuple[float, float],
    zoom: float,
    size: tuple[int, int],
    out: Path | None,
    timeout_s: float = 180.0,
) -> dict[str, Any]:
    """Loads the style, waits until MapLibre is idle (every tile and glyph drawn) and
    returns what a test wants to know: errors, rendered features per layer, screenshot."""
    from playwright.sync_api import sync_playwright

    base = base_url.rstrip("/")
    html = PAGE.format(
        style=json.dumps(f"{base}{style_path}"), center=json.dumps(list(center)), zoom=zoom
    )
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(str(e)))
            page.route(
                f"{base}{PAGE_PATH}",
                lambda route: route.fulfill(body=html, content_type="text/html"),
            )
            page.goto(f"{base}{PAGE_PATH}")
            page.wait_for_function("window.mapIdle === true", timeout=timeout_s * 1000)
            rendered = page.evaluate(
                """() => {
                    const counts = {};
                    for (const f of map.queryRenderedFeatures()) {
                        counts[f.layer.id] = (counts[f.layer.id] || 0) + 1;
                    }
                    return counts;
                }"""
            )
            errors = page.evaluate("window.mapErrors")
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
        finally:
            browser.close()
    return {"errors": errors + console, "rendered": rendered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--world", default=None, help="world id (default: the default world)")
    parser.add_argument("--center", required=True, help="lon,lat")
    parser.add_argument("--zoom", type=float, default=13.0)
    parser.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT in CSS pixels")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lon, lat = (float(v) for v in args.center.split(","))
    width, height = (int(v) for v in args.size.split("x"))
    style = f"/worlds/{args.world}/map-style.json" if args.world else "/map-style.json"
    report = render(args.base_url, style, (lon, lat), args.zoom, (width, height), args.out)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
