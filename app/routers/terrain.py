"""Elevation tiles: /worlds/{world}/terrain/{z}/{x}/{y}.png (and /terrain/... for the default
world) in Terrain-RGB (Mapbox) or, with ?encoding=terrarium, Terrarium encoding.

A terrain tile is a pure function of (world, z, x, y, encoding) drawn from the plan without
a model (core/layers/terrain.py), so it is computed in the API process and cached like an
imagery tile (app/layer_tiles.py).
"""

from __future__ import annotations

from fastapi import Depends, Query, Request, Response

from app.auth import require_key_for_tiles
from app.dependencies import TileXYZ
from app.errors import ApiError
from app.layer_tiles import layer_tile_response
from app.routers.factory import WorldRoutes, world_router
from app.tile_url import TILE_ROUTE
from core.layers.terrain import (
    ENCODING_HELP,
    TERRAIN_VERSION,
    Encoding,
    NoPlanRelief,
    terrain_tile,
)
from core.plans import plan_spec
from core.world import World

# The `?encoding=` parameter, shared with the terrain TileJSON (app/routers/tilejson.py).
ENCODING_QUERY = Query("mapbox", description=ENCODING_HELP)


async def answer_terrain_tile(
    request: Request, world: World, tile: TileXYZ, encoding: Encoding
) -> Response:
    if plan_spec(world) is None:
        raise ApiError(404, str(NoPlanRelief(world)))
    return await layer_tile_response(
        request,
        world,
        tile,
        f"terrain-v{TERRAIN_VERSION}-{encoding}",
        lambda: terrain_tile(world, *tile, encoding),
    )


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        "/terrain" + TILE_ROUTE,
        methods=["GET", "HEAD"],
        response_class=Response,
        summary="Elevation tile of a world (Terrain-RGB or Terrarium PNG)",
        default_summary="Elevation tile of the default world (Terrain-RGB or Terrarium PNG)",
        responses={200: {"content": {"image/png": {}}}, 400: {}, 404: {}},
    )
    async def terrain(
        request: Request,
        world: World = routes.world,
        tile: TileXYZ = routes.tile,
        encoding: Encoding = ENCODING_QUERY,
    ) -> Response:
        return await answer_terrain_tile(request, world, tile, encoding)


router = world_router(_routes, tags=["terrain"], dependencies=[Depends(require_key_for_tiles)])
