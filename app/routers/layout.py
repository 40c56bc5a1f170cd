"""The layout debug layer: the land-cover plan of a world, colour-coded, at any zoom."""

from __future__ import annotations

import asyncio

from fastapi import Depends, Request, Response

from app.auth import require_key_for_tiles
from app.dependencies import TileXYZ
from app.http_caching import png_response
from app.routers.factory import NAMED_WORLD, WorldRoutes, world_router
from app.tile_url import TILE_ROUTE
from core.layout import layout_tile
from core.png import encode_plain
from core.tile_cache import TILE_CACHE_CONTROL
from core.world import World


def _encode(world: World, z: int, x: int, y: int) -> bytes:
    return encode_plain(layout_tile(world, z, x, y))


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        "/layout" + TILE_ROUTE,
        methods=["GET", "HEAD"],
        response_class=Response,
        summary="Colour-coded land-cover layout tile",
    )
    async def layout_debug_tile(
        request: Request, world: World = routes.world, tile: TileXYZ = routes.tile
    ) -> Response:
        png = await asyncio.to_thread(_encode, world, *tile)
        return png_response(request.method, png, {"Cache-Control": TILE_CACHE_CONTROL})


# Named worlds only, as before the factory: a debug layer needs no short URL.
router = world_router(
    _routes,
    mounts=(NAMED_WORLD,),
    tags=["layout"],
    dependencies=[Depends(require_key_for_tiles)],
)
