"""The one rule for tile URLs: the routes' templates, what a coordinate may look like, and
the fast path's pattern and the OpenAPI document's, all derived from here.
"""

from __future__ import annotations

import re

from core.world import WORLD_ID_PATTERN

TILE_FORMAT = "png"
# A coordinate: no sign, no leading zeros, at most 10 digits (anything else is a 400).
NUMBER = r"(0|[1-9][0-9]{0,9})"
INTEGER = re.compile(rf"^{NUMBER}$")

# Every world-scoped route is mounted twice (app/routers/factory.py): as is, for the
# default world, and under this prefix for a named one.
WORLD_PREFIX = "/worlds/{world_id}"
TILE_ROUTE = "/{z}/{x}/{y_file}"
DEFAULT_ROUTE = TILE_ROUTE
WORLD_ROUTE = WORLD_PREFIX + TILE_ROUTE

# What the hot path answers itself; everything else (including every malformed tile URL,
# which deserves its precise 400) goes through the routes. Group 1: the world id, if any.
FAST_PATH = re.compile(
    rf"^(?:/worlds/({WORLD_ID_PATTERN}))?/{NUMBER}/{NUMBER}/{NUMBER}\.{TILE_FORMAT}$"
)

# The path parameters as the OpenAPI document declares them.
PARAMETER_SCHEMAS = {
    "z": {
        "type": "string",
        "pattern": f"^{NUMBER}$",
        "description": "zoom (no sign, no leading 0)",
    },
    "x": {"type": "string", "pattern": f"^{NUMBER}$", "description": "column"},
    "y_file": {
        "type": "string",
        "pattern": rf"^{NUMBER}\.{TILE_FORMAT}$",
        "description": f"row, then .{TILE_FORMAT}",
    },
}
