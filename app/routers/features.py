"""GET /worlds/{world}/features.geojson (and /features.geojson for the default world): the
world plan's vector features for planners."""

from __future__ import annotations

import asyncio
import json

from fastapi import Depends, Query, Request, Response

from app.auth import require_key_for_tiles
from app.errors import ApiError
from app.routers.factory import WorldRoutes, world_router
from core.bbox import AreaError, parse_bbox
from core.plan.features import TooManyFeatures, plan_features
from core.plans import plan_spec, world_plan
from core.world import World

# A bbox this many degrees on a side at most: the answer stays a few MB, and a world
# planned in chunks never builds more than a few of them for one request.
MAX_BBOX_DEGREES = 2.0
MAX_FEATURES = 20_000
BBOX_HELP = "minlon,minlat,maxlon,maxlat (WGS84)"


def _features(world: World, bbox_text: str | None) -> bytes:
    if plan_spec(world) is None:
        raise ApiError(
            404,
            f"world {world.id!r} has no plan (layout {world.layout!r}); vector features "
            'exist for worlds with layout "plan" or "plan-island"',
        )
    if bbox_text is None:
        raise ApiError(400, f"bbox is required: ?bbox={BBOX_HELP}")
    try:
        bbox = parse_bbox(bbox_text)
    except AreaError as exc:
        raise ApiError(400, str(exc)) from None
    west, south, east, north = bbox
    if east - west > MAX_BBOX_DEGREES or north - south > MAX_BBOX_DEGREES:
        raise ApiError(
            400,
            f"bbox {list(bbox)} is larger than {MAX_BBOX_DEGREES} degrees on a side; "
            "ask for several smaller ones",
            max_degrees=MAX_BBOX_DEGREES,
        )
    ww, ws, we, wn = world.extent
    west, south, east, north = max(west, ww), max(south, ws), min(east, we), min(north, wn)
    if west >= east or south >= north:
        collection = {"type": "FeatureCollection", "bbox": list(bbox), "features": []}
        return json.dumps(collection).encode()
    plan = world_plan(world)
    assert plan is not None
    try:
        collection = plan_features(plan, (west, south, east, north), MAX_FEATURES)
    except TooManyFeatures as exc:
        raise ApiError(400, str(exc), max_features=MAX_FEATURES) from None
    collection["bbox"] = list(bbox)
    return json.dumps(collection, separators=(",", ":")).encode()


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        "/features.geojson",
        summary="Roads, rivers, lakes, bridges and settlements of a world's plan in a bbox",
        default_summary="Vector features of the default world's plan in a bbox",
        response_class=Response,
        responses={200: {"content": {"application/geo+json": {}}}, 400: {}, 404: {}},
    )
    async def features(
        request: Request,
        bbox: str | None = Query(None, description=BBOX_HELP),
        world: World = routes.world,
    ) -> Response:
        body = await asyncio.to_thread(_features, world, bbox)
        # The plan never changes for a world, so neither does the answer for one bbox.
        return Response(
            body,
            media_type="application/geo+json",
            headers={"Cache-Control": "public, max-age=86400"},
        )


router = world_router(_routes, tags=["features"], dependencies=[Depends(require_key_for_tiles)])
