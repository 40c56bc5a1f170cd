"""The export formats, by the name a request gives: one line per format.

A new format is one module with an `Export` subclass (see core/exports/base.py) and one
line here; the API's request schema, its answers and the CLI take it from this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.bbox import AreaError, BBox
from core.exports.base import Export
from core.exports.cog import CogExport
from core.exports.dem import DemExport
from core.exports.mbtiles import MBTilesExport
from core.exports.pmtiles import PMTilesExport
from core.world import World

FORMATS: dict[str, type[Export]] = {
    kind.format: kind
    for kind in (
        CogExport,
        MBTilesExport,
        PMTilesExport,
        DemExport,
    )
}


def plan_export(
    world: World,
    bbox: BBox,
    format: str,
    minzoom: int,
    maxzoom: int,
    max_pixels: int,
    options: Mapping[str, Any] | None = None,
) -> Export:
    """Checks an export request against the world and the size limit; says what it makes.
    `options`: the format's own request options (`Export.accepts`); None values are unset."""
    kind = FORMATS.get(format)
    if kind is None:
        raise AreaError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    given = {name: value for name, value in (options or {}).items() if value is not None}
    refused = sorted(set(given) - set(kind.accepts))
    if refused:
        takes = f"takes only {', '.join(kind.accepts)}" if kind.accepts else "takes no options"
        raise AreaError(f"format {format!r} {takes}; not {', '.join(refused)}")
    if minzoom > maxzoom:
        raise AreaError(f"zoom range {minzoom}-{maxzoom} is inverted: need minzoom <= maxzoom")
    if minzoom < world.min_zoom or maxzoom > world.max_zoom:
        shown = str(minzoom) if minzoom == maxzoom else f"{minzoom}-{maxzoom}"
        raise AreaError(
            f"zoom {shown} is outside world {world.id!r}'s range {world.min_zoom}-{world.max_zoom}"
        )
    return kind.plan(world, bbox, minzoom, maxzoom, max_pixels, **given)
