"""XYZ tile endpoints: /{z}/{x}/{y}.png (default world) and /worlds/{world}/{z}/{x}/{y}.png,
one declaration mounted twice by the route factory."""

from __future__ import annotations

from fastapi import Depends, Request, Response

from app.auth import client_id, require_key_for_tiles
from app.completion import ClientGone, GenerationFailed, GenerationTimeout
from app.dependencies import TileXYZ
from app.errors import ApiError, still_generating
from app.http_caching import tile_response
from app.routers.factory import WorldRoutes, world_router
from app.services import services
from app.tile_url import TILE_ROUTE
from core.tile_cache import TileSource, placeholder_headers
from core.world import World

# Viewers send this header ("parent") to get a stand-in at once while a tile is generated.
PLACEHOLDER_HEADER = "x-synthtiles-placeholder"


async def answer_tile(request: Request, world: World, tile_xyz: TileXYZ) -> Response:
    state = services(request)
    tz, tx, ty = tile_xyz
    client = client_id(request)
    if request.headers.get(PLACEHOLDER_HEADER, "").lower() == "parent":
        tile = await state.tiles.get_or_placeholder(world, tz, tx, ty, client)
        if tile.source is TileSource.PLACEHOLDER:
            return Response(tile.png, media_type="image/png", headers=placeholder_headers())
    else:
        try:
            tile = await state.tiles.get(world, tz, tx, ty, client, request.is_disconnected)
        except ClientGone:
            # Nobody reads this answer; 499 ("client closed request") is for logs and metrics.
            return Response(status_code=499)
        except GenerationTimeout:
            raise still_generating(f"tile {tz}/{tx}/{ty} is", state.api.retry_after_s) from None
        except GenerationFailed as exc:
            raise ApiError(
                500, f"generation of tile {tz}/{tx}/{ty} failed and was given up: {exc}"
            ) from None
    return tile_response(
        request.method, request.headers.get("if-none-match"), tile.png, tile.etag, tile.source
    )


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        TILE_ROUTE,
        methods=["GET", "HEAD"],
        response_class=Response,
        summary="A tile of a named world",
        default_summary="A tile of the default world",
    )
    async def tile(
        request: Request, world: World = routes.world, tile: TileXYZ = routes.tile
    ) -> Response:
        return await answer_tile(request, world, tile)


router = world_router(_routes, tags=["tiles"], dependencies=[Depends(require_key_for_tiles)])
