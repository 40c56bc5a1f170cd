"""The land-cover classes every model and every layout share (DESIGN §4)."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("water", "forest", "cropland", "grassland", "bare", "urban")
CLASS_INDEX: dict[str, int] = {name: index for index, name in enumerate(CLASSES)}

# Colours of the layout debug layer.
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "water": (40, 90, 180),
    "forest": (30, 110, 40),
    "cropland": (220, 200, 80),
    "grassland": (150, 200, 110),
    "bare": (200, 170, 130),
    "urban": (200, 60, 60),
}
