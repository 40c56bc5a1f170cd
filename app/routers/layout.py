"""The layout debug layer: the land-cover plan of a world, colour-coded, at any zoom."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response

from app.auth import require_key_for_tiles
from app.http_caching import TILE_CACHE_CONTROL, png_response
from app.services import services
from app.validation import parse_tile, resolve_world
from core.png import encode_plain
from worker.layout import layout_tile

router = APIRouter(tags=["layout"], dependencies=[Depends(require_key_for_tiles)])


def _encode(world, z: int, x: int, y: int) -> bytes:
    return encode_plain(layout_tile(world, z, x, y))


@router.api_route(
    "/worlds/{world_id}/layout/{z}/{x}/{y_file}",
    methods=["GET", "HEAD"],
    response_class=Response,
    summary="Colour-coded land-cover layout tile",
)
async def layout_debug_tile(
    request: Request, world_id: str, z: str, x: str, y_file: str
) -> Response:
    world = resolve_world(services(request).catalog, world_id)
    tz, tx, ty = parse_tile(world, z, x, y_file)
    png = await asyncio.to_thread(_encode, world, tz, tx, ty)
    return png_response(request.method, png, {"Cache-Control": TILE_CACHE_CONTROL})
