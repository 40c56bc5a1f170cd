"""Bbox geometry shared by seeding, exports and the features API: parse a bbox, clip it to a
world, list its tiles, snap it to a zoom's pixel grid.

Lives in core so the API, the CLI and the export writers agree on which tiles and pixels a
bbox covers without importing each other.
"""

from __future__ import annotations

import math

import mercantile

from core.world import World

BBox = tuple[float, float, float, float]  # west, south, east, north (degrees)
ORIGIN = 20037508.342789244  # half the Web-Mercator world width, metres


class AreaError(ValueError):
    """A bbox, zoom range or export of an area that cannot be carried out as asked.

    The API answers it with a 400 and the CLI with exit code 2, its message shown as is.
    """


def parse_bbox(text: str | list[float]) -> BBox:
    """'minlon,minlat,maxlon,maxlat' (or a list of 4 numbers), checked."""
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except (TypeError, ValueError):
        raise AreaError(
            f"bbox must be four numbers minlon,minlat,maxlon,maxlat, got {text!r}"
        ) from None
    if len(values) != 4:
        raise AreaError(
            f"bbox must have 4 numbers (minlon,minlat,maxlon,maxlat), got {len(values)}"
        )
    west, south, east, north = values
    if not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90
    ):
        raise AreaError(f"bbox {values} is outside longitude -180..180 / latitude -90..90")
    if west >= east or south >= north:
        raise AreaError(
            f"bbox {values} is inverted or empty: need minlon < maxlon and minlat < maxlat"
        )
    return west, south, east, north


def clip_to_world(world: World, bbox: BBox) -> BBox:
    """The part of `bbox` inside the world's extent; an AreaError when they do not overlap."""
    west, south, east, north = bbox
    w_west, w_south, w_east, w_north = world.extent
    clipped = (max(west, w_west), max(south, w_south), min(east, w_east), min(north, w_north))
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        raise AreaError(
            f"bbox {list(bbox)} does not overlap world {world.id!r}'s extent {list(world.extent)}"
        )
    return clipped


def tiles_in(world: World, bbox: BBox, zoom: int) -> list[tuple[int, int]]:
    """(x, y) of every tile of the world at `zoom` that the bbox touches."""
    west, south, east, north = clip_to_world(world, bbox)
    # Shrunk by a hair so a bbox edge on a tile boundary does not take the next tile too.
    eps = 1e-9
    return [
        (t.x, t.y)
        for t in mercantile.tiles(west + eps, south + eps, east - eps, north - eps, zoom)
        if world.contains_tile(zoom, t.x, t.y)
    ]


def pixel_window(bbox: BBox, zoom: int, tile_size: int) -> tuple[int, int, int, int]:
    """The global pixel window (x0, y0, x1, y1; end exclusive) the bbox touches at `zoom`.

    Snapped outwards to the XYZ pixel grid, so a raster of it lines up with the tiles.
    """
    west, south, east, north = bbox
    world_px = tile_size * 2**zoom
    left, top = mercantile.xy(west, north)
    right, bottom = mercantile.xy(east, south)

    def to_px(metres_x: float, metres_y: float) -> tuple[float, float]:
        return (
            (metres_x + ORIGIN) / (2 * ORIGIN) * world_px,
            (ORIGIN - metres_y) / (2 * ORIGIN) * world_px,
        )

    fx0, fy0 = to_px(left, top)
    fx1, fy1 = to_px(right, bottom)
    return math.floor(fx0), math.floor(fy0), math.ceil(fx1), math.ceil(fy1)
