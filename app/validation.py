"""Turns raw path segments into tile coordinates, or a 4xx that says what is allowed.

Checked before anything touches Redis, so a bad request never becomes a job.
"""

from __future__ import annotations

from app.errors import ApiError
from app.tile_url import INTEGER, TILE_FORMAT
from core.world import World, WorldCatalog


def resolve_world(catalog: WorldCatalog, world_id: str) -> World:
    world = catalog.get(world_id)
    if world is None:
        raise ApiError(404, f"unknown world {world_id!r}", worlds=catalog.ids())
    return world


def parse_coordinate(name: str, raw: str) -> int:
    if not INTEGER.match(raw):
        raise ApiError(
            400, f"{name} must be a non-negative integer without sign or leading zeros, got {raw!r}"
        )
    return int(raw)


def parse_tile(world: World, z_raw: str, x_raw: str, y_file: str) -> tuple[int, int, int]:
    stem, dot, extension = y_file.rpartition(".")
    if not dot:
        raise ApiError(400, f"tile name {y_file!r} has no extension; use {{y}}.{TILE_FORMAT}")
    if extension != TILE_FORMAT:
        raise ApiError(
            400,
            f"unsupported tile format {extension!r}; only {TILE_FORMAT!r} is served",
            formats=[TILE_FORMAT],
        )
    z = parse_coordinate("z", z_raw)
    x = parse_coordinate("x", x_raw)
    y = parse_coordinate("y", stem)
    if not world.min_zoom <= z <= world.max_zoom:
        raise ApiError(
            404,
            f"zoom {z} is outside world {world.id!r}'s zoom range "
            f"{world.min_zoom}-{world.max_zoom}",
            minzoom=world.min_zoom,
            maxzoom=world.max_zoom,
        )
    limit = 2**z - 1
    for name, value in (("x", x), ("y", y)):
        if value > limit:
            raise ApiError(400, f"{name}={value} is off the grid at zoom {z}: allowed 0-{limit}")
    if not world.contains_tile(z, x, y):
        min_x, min_y, max_x, max_y = world.tile_range(z)
        raise ApiError(
            404,
            f"tile {z}/{x}/{y} is outside world {world.id!r}'s extent",
            bounds=list(world.extent),
            x_range=[min_x, max_x],
            y_range=[min_y, max_y],
        )
    return z, x, y
