"""Path dependencies: the world a route is about, resolved before its endpoint runs.

TiTiler's `dependencies.py` pattern: an endpoint asks for a `World` and the mount decides
where it comes from, so one endpoint serves the default world and every named one
(app/routers/factory.py mounts it with either dependency). They are `async` only so that
FastAPI calls them inline: a plain `def` dependency costs a hop to its thread pool.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request

from app.services import services
from app.validation import parse_tile, resolve_world
from core.world import World


async def default_world(request: Request) -> World:
    """The world of the short URLs (`/{z}/{x}/{y}.png`, `/tilejson.json`, ...)."""
    return services(request).catalog.default


async def named_world(request: Request, world_id: str) -> World:
    """The world named by the `/worlds/{world_id}` prefix; an unknown id is a 404 that
    lists the worlds served."""
    return resolve_world(services(request).catalog, world_id)


TileXYZ = tuple[int, int, int]


def tile_in(resolve: Callable[..., World]) -> Callable[..., TileXYZ]:
    """The dependency for a `/{z}/{x}/{y}.png` path's tile, checked against the world that
    `resolve` (one of the two above) finds: a 400 or 404 that says what is allowed. FastAPI
    resolves the world once per request, however many dependencies ask for it."""
    world_of_path = Depends(resolve)

    async def tile(z: str, x: str, y_file: str, world: World = world_of_path) -> TileXYZ:
        return parse_tile(world, z, x, y_file)

    return tile
