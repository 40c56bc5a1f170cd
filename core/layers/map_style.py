"""The topographic map style: a MapLibre style (v8) that draws a world's vector tiles as a
readable map (land cover, hillshade from the terrain tiles, contours with labelled index
lines, water, roads by class, bridges, towns with names).

Every asset is the server's own: the vector and terrain TileJSONs, and SDF glyphs under
``/static/vendor/glyphs`` (DejaVu, built by tools/build_glyphs.py). Towns are circles, so
the style needs no sprite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.world import World

VECTOR_SOURCE = "synthtiles-vector"
TERRAIN_SOURCE = "synthtiles-terrain"
# Fontstacks are the folder names under app/static/vendor/glyphs.
FONT = "DejaVu Sans Book"
FONT_BOLD = "DejaVu Sans Bold"
FONT_ITALIC = "DejaVu Sans Oblique"
FONTS = (FONT, FONT_BOLD, FONT_ITALIC)
GLYPHS_PATH = "/static/vendor/glyphs/{fontstack}/{range}.pbf"

PAPER = "#f4f1e8"
LANDCOVER_COLOURS = {
    "forest": "#c5dea9",
    "cropland": "#f3eccb",
    "grassland": "#e6eccd",
    "bare": "#efe8da",
    "urban": "#d6cbc6",
}
WATER = "#a7cdea"
WATER_LINE = "#5d9ed3"
CONTOUR = "#b48a5c"
ROADS = {  # kind: (fill, casing, width at z10, width at z16)
    "main": ("#f6a04d", "#9c5a1f", 1.6, 9.0),
    "minor": ("#ffffff", "#8c8275", 0.9, 6.0),
    "track": ("#8f6b46", None, 0.6, 2.2),
}
HALO = "rgba(255,255,255,0.85)"


@dataclass(frozen=True)
class StyleUrls:
    """Where the style's sources live (absolute, with the caller's `?key=` if any)."""

    vector_tilejson: str
    terrain_tilejson: str
    glyphs: str


def _by_zoom(*stops: float) -> list[Any]:
    """An exponential zoom curve (base 1.5) through (zoom, value) pairs."""
    return ["interpolate", ["exponential", 1.5], ["zoom"], *stops]


def _layer(layer_id: str, kind: str, source_layer: str | None, **spec: Any) -> dict[str, Any]:
    layer: dict[str, Any] = {"id": layer_id, "type": kind}
    if source_layer is not None:
        layer["source"] = VECTOR_SOURCE
        layer["source-layer"] = source_layer
    layer.update(spec)
    return layer


def _landcover() -> list[dict[str, Any]]:
    colour = ["match", ["get", "class"]]
    for name, value in LANDCOVER_COLOURS.items():
        colour += [name, value]
    return [
        _layer(
            "landcover",
            "fill",
            "landcover",
            paint={"fill-color": [*colour, PAPER], "fill-antialias": False},
        ),
    ]


def _hillshade() -> list[dict[str, Any]]:
    return [
        {
            "id": "hillshade",
            "type": "hillshade",
            "source": TERRAIN_SOURCE,
            "paint": {
                "hillshade-exaggeration": 0.45,
                "hillshade-shadow-color": "#5a4a32",
                "hillshade-highlight-color": "#fffdf5",
                "hillshade-accent-color": "#6e5a3c",
                "hillshade-illumination-direction": 315,
            },
        }
    ]


def _contours() -> list[dict[str, Any]]:
    index = ["==", ["get", "index"], 1]
    return [
        _layer(
            "contour",
            "line",
            "contour",
            filter=["!", index],
            paint={
                "line-color": CONTOUR,
                "line-opacity": 0.55,
                "line-width": _by_zoom(10, 0.4, 16, 0.9),
            },
        ),
        _layer(
            "contour-index",
            "line",
            "contour",
            filter=index,
            paint={
                "line-color": CONTOUR,
                "line-opacity": 0.85,
                "line-width": _by_zoom(10, 0.9, 16, 1.8),
            },
        ),
    ]


def _water() -> list[dict[str, Any]]:
    return [
        _layer(
            "water",
            "fill",
            "water",
            paint={"fill-color": WATER, "fill-outline-color": WATER_LINE},
        ),
        _layer(
            "stream",
            "line",
            "waterway",
            minzoom=11,
            filter=["==", ["get", "kind"], "stream"],
            layout={"line-cap": "round", "line-join": "round"},
            paint={"line-color": WATER_LINE, "line-width": _by_zoom(11, 0.4, 16, 1.6)},
        ),
        _layer(
            "river",
            "line",
            "waterway",
            filter=["==", ["get", "kind"], "river"],
            layout={"line-cap": "round", "line-join": "round"},
            paint={
                "line-color": WATER_LINE,
                # Drawn at its width in metres where that is wider than a hairline.
                "line-width": [
                    "interpolate",
                    ["exponential", 2],
                    ["zoom"],
                    10,
                    ["max", 0.8, ["/", ["get", "width_m"], 150]],
                    16,
                    ["max", 2.0, ["/", ["get", "width_m"], 2.4]],
                ],
            },
        ),
    ]


def _road_width(kind: str, scale: float = 1.0, extra: float = 0.0) -> list[Any]:
    _, _, low, high = ROADS[kind]
    return _by_zoom(10, low * scale + extra, 16, high * scale + extra)


def _roads(source_layer: str, prefix: str, bridge: bool) -> list[dict[str, Any]]:
    """Casings first, then fills, minor under main; bridges get a dark casing of their own."""
    casings, fills = [], []
    for kind in ("track", "minor", "main"):
        fill, casing, _, _ = ROADS[kind]
        is_kind = ["==", ["get", "kind"], kind]
        minzoom = {"track": 12, "minor": 10, "main": 10}[kind]
        line_layout = {"line-join": "round", "line-cap": "butt" if bridge else "round"}
        if casing is not None or bridge:
            casings.append(
                _layer(
                    f"{prefix}-{kind}-casing",
                    "line",
                    source_layer,
                    minzoom=max(minzoom, 12) if bridge else minzoom,
                    filter=is_kind,
                    layout=line_layout,
                    paint={
                        "line-color": "#333333" if bridge else casing,
                        "line-width": _road_width(kind, extra=2.0 if bridge else 1.2),
                    },
                )
            )
        paint: dict[str, Any] = {"line-color": fill, "line-width": _road_width(kind)}
        if kind == "track" and not bridge:
            paint["line-dasharray"] = [3, 1.5]
        fills.append(
            _layer(
                f"{prefix}-{kind}",
                "line",
                source_layer,
                minzoom=max(minzoom, 12) if bridge else minzoom,
                filter=is_kind,
                layout=line_layout,
                paint=paint,
            )
        )
    return casings + fills


def _place_dot(kind: str, radius: float, minzoom: int) -> dict[str, Any]:
    """Towns and villages as dots (cities are their built-up area and a name)."""
    return _layer(
        f"place-{kind}-dot",
        "circle",
        "place",
        minzoom=minzoom,
        filter=["==", ["get", "kind"], kind],
        paint={
            "circle-color": "#3b3b3b",
            "circle-radius": radius,
            "circle-stroke-color": "#ffffff",
            "circle-stroke-width": 1,
        },
    )


def _labels() -> list[dict[str, Any]]:
    text_paint = {"text-halo-color": HALO, "text-halo-width": 1.4}
    return [
        _layer(
            "contour-label",
            "symbol",
            "contour",
            minzoom=12,
            filter=["==", ["get", "index"], 1],
            layout={
                "symbol-placement": "line",
                "text-field": ["to-string", ["get", "ele"]],
                "text-font": [FONT],
                "text-size": 10,
                "text-max-angle": 35,
                "symbol-spacing": 350,
            },
            paint={"text-color": "#8a6440", **text_paint},
        ),
        _place_dot("village", radius=2.2, minzoom=12),
        _place_dot("town", radius=3.2, minzoom=10),
        _layer(
            "place-village",
            "symbol",
            "place",
            minzoom=12,
            filter=["==", ["get", "kind"], "village"],
            layout={
                "text-field": ["get", "name"],
                "text-font": [FONT],
                "text-size": _by_zoom(12, 11, 16, 14),
                "text-variable-anchor": ["left", "right", "top", "bottom"],
                "text-radial-offset": 0.5,
                "symbol-sort-key": ["-", ["get", "population"]],
            },
            paint={"text-color": "#333333", **text_paint},
        ),
        _layer(
            "place-town",
            "symbol",
            "place",
            filter=["==", ["get", "kind"], "town"],
            layout={
                "text-field": ["get", "name"],
                "text-font": [FONT_BOLD],
                "text-size": _by_zoom(10, 11, 16, 16),
                "text-variable-anchor": ["left", "right", "top", "bottom"],
                "text-radial-offset": 0.6,
                "symbol-sort-key": ["-", ["get", "population"]],
            },
            paint={"text-color": "#222222", **text_paint},
        ),
        _layer(
            "place-city",
            "symbol",
            "place",
            filter=["==", ["get", "kind"], "city"],
            layout={
                "text-field": ["get", "name"],
                "text-font": [FONT_BOLD],
                "text-size": _by_zoom(10, 14, 16, 22),
                "text-transform": "uppercase",
                "text-letter-spacing": 0.08,
                "symbol-sort-key": ["-", ["get", "population"]],
            },
            paint={"text-color": "#111111", **text_paint},
        ),
    ]


def topo_style(world: World, urls: StyleUrls, attribution: str) -> dict[str, Any]:
    """The MapLibre style (v8) of a world's topographic map."""
    lon, lat = world.center_lonlat
    layers = [{"id": "background", "type": "background", "paint": {"background-color": PAPER}}]
    layers += _landcover() + _hillshade() + _contours() + _water()
    layers += _roads("road", "road", bridge=False) + _roads("bridge", "bridge", bridge=True)
    layers += _labels()
    return {
        "version": 8,
        "name": f"{world.name or world.id} (topographic map)",
        "metadata": {"synthtiles:world": world.id, "synthtiles:synthetic": True},
        "center": [lon, lat],
        "zoom": world.min_zoom + 2,
        "sources": {
            VECTOR_SOURCE: {
                "type": "vector",
                "url": urls.vector_tilejson,
                "attribution": attribution,
            },
            TERRAIN_SOURCE: {
                "type": "raster-dem",
                "url": urls.terrain_tilejson,
                "tileSize": world.tile_size,
                "encoding": "mapbox",
            },
        },
        "glyphs": urls.glyphs,
        "layers": layers,
    }
