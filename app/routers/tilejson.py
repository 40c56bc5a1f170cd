"""TileJSON 3.0.0 documents, MapLibre style documents and the list of worlds."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request

from app.auth import require_key_for_tiles
from app.errors import ApiError
from app.routers.factory import WorldRoutes, world_router
from app.routers.terrain import ENCODING_QUERY
from app.services import services
from core.layers.terrain import Encoding, NoPlanRelief
from core.layers.vector import VECTOR_LAYERS, NoPlan
from core.plans import plan_spec
from core.world import World


def base_url(request: Request) -> str:
    public = services(request).api.public_url
    return (public or str(request.base_url)).rstrip("/")


def key_query(request: Request) -> str:
    """`?key=...` when the document was asked for with a key in its URL: the URLs in it
    then carry the same key (for servers that require one for tiles)."""
    key = request.query_params.get("key")
    return f"?{urlencode({'key': key})}" if key else ""


def tilejson_document(request: Request, world: World) -> dict[str, Any]:
    state = services(request)
    base = base_url(request)
    lon, lat = world.center_lonlat
    return {
        "tilejson": "3.0.0",
        "name": world.name or world.id,
        "description": f"Synthetic satellite imagery of the fictional world {world.id!r}",
        "version": "1.0.0",
        "attribution": state.api.attribution,
        "scheme": "xyz",
        "tiles": [f"{base}/worlds/{world.id}/{{z}}/{{x}}/{{y}}.png{key_query(request)}"],
        "minzoom": world.min_zoom,
        "maxzoom": world.max_zoom,
        "bounds": list(world.extent),
        "center": [lon, lat, world.min_zoom],
        "tile_size": world.tile_size,
        "synthtiles": {
            "world": world.id,
            "seed": world.seed,
            "model": world.model,
            "unit_size": world.unit_size,
            "synthetic": True,
        },
    }


def maplibre_style(request: Request, world: World) -> dict[str, Any]:
    """A MapLibre/Mapbox GL style (v8): the world's imagery as one raster source."""
    state = services(request)
    base = base_url(request)
    lon, lat = world.center_lonlat
    return {
        "version": 8,
        "name": world.name or world.id,
        "metadata": {"synthtiles:world": world.id, "synthtiles:synthetic": True},
        "center": [lon, lat],
        "zoom": world.min_zoom,
        "sources": {
            "synthtiles": {
                "type": "raster",
                "url": f"{base}/worlds/{world.id}/tilejson.json{key_query(request)}",
                "tileSize": world.tile_size,
                "attribution": state.api.attribution,
            }
        },
        "layers": [
            {"id": "background", "type": "background", "paint": {"background-color": "#0b1d2a"}},
            {"id": "imagery", "type": "raster", "source": "synthtiles"},
        ],
    }


def terrain_tilejson(
    request: Request, world: World, encoding: Encoding = "mapbox"
) -> dict[str, Any]:
    """TileJSON of a world's elevation tiles (app/routers/terrain.py); `encoding` says how
    a pixel's RGB is a height, as MapLibre's raster-dem source names it."""
    if plan_spec(world) is None:
        raise ApiError(404, str(NoPlanRelief(world)))
    document = tilejson_document(request, world)
    query = {"encoding": encoding} if encoding != "mapbox" else {}
    if key := request.query_params.get("key"):
        query["key"] = key
    suffix = f"?{urlencode(query)}" if query else ""
    base = f"{base_url(request)}/worlds/{world.id}/terrain"
    document.update(
        name=f"{world.name or world.id} terrain",
        description=f"Elevation (metres) of the fictional world {world.id!r}, from its plan",
        tiles=[f"{base}/{{z}}/{{x}}/{{y}}.png{suffix}"],
        encoding=encoding,
    )
    return document


def vector_tilejson(request: Request, world: World) -> dict[str, Any]:
    """TileJSON of a world's vector tiles (app/routers/vector.py) with their `vector_layers`."""
    if plan_spec(world) is None:
        raise ApiError(404, str(NoPlan(world)))
    document = tilejson_document(request, world)
    document.pop("tile_size", None)  # an MVT has no pixel size
    base = f"{base_url(request)}/worlds/{world.id}/vector"
    document.update(
        name=f"{world.name or world.id} vector tiles",
        description=f"Vector features of the fictional world {world.id!r}, from its plan",
        tiles=[f"{base}/{{z}}/{{x}}/{{y}}.pbf{key_query(request)}"],
        format="pbf",
        vector_layers=[
            {"id": name, "minzoom": world.min_zoom, "maxzoom": world.max_zoom, **layer}
            for name, layer in VECTOR_LAYERS.items()
        ],
    )
    return document


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        "/tilejson.json",
        summary="TileJSON of a world",
        default_summary="TileJSON of the default world",
    )
    async def tilejson(request: Request, world: World = routes.world) -> dict[str, Any]:
        document = tilejson_document(request, world)
        if routes.mount.is_default:
            # The default world is also served at the short /{z}/{x}/{y}.png URL.
            short = f"{base_url(request)}/{{z}}/{{x}}/{{y}}.png{key_query(request)}"
            document["tiles"].insert(0, short)
        return document

    @routes.route(
        "/style.json",
        summary="MapLibre style of a world",
        default_summary="MapLibre style of the default world",
    )
    async def style(request: Request, world: World = routes.world) -> dict[str, Any]:
        return maplibre_style(request, world)

    @routes.route(
        "/terrain.json",
        summary="TileJSON of a world's elevation tiles",
        default_summary="TileJSON of the default world's elevation tiles",
        responses={404: {}},
    )
    async def terrain_json(
        request: Request,
        world: World = routes.world,
        encoding: Encoding = ENCODING_QUERY,
    ) -> dict[str, Any]:
        return terrain_tilejson(request, world, encoding)

    @routes.route(
        "/vector.json",
        summary="TileJSON of a world's vector tiles",
        default_summary="TileJSON of the default world's vector tiles",
        responses={404: {}},
    )
    async def vector_json(request: Request, world: World = routes.world) -> dict[str, Any]:
        return vector_tilejson(request, world)


router = world_router(_routes, tags=["metadata"], dependencies=[Depends(require_key_for_tiles)])


@router.get("/worlds", summary="The worlds this server serves")
async def worlds(request: Request) -> dict[str, Any]:
    catalog = services(request).catalog
    base = base_url(request)
    return {
        "default": catalog.default_id,
        "worlds": [
            {
                "id": w.id,
                "name": w.name,
                "model": w.model,
                "minzoom": w.min_zoom,
                "maxzoom": w.max_zoom,
                "bounds": list(w.extent),
                "tilejson": f"{base}/worlds/{w.id}/tilejson.json",
                "style": f"{base}/worlds/{w.id}/style.json",
                "wmts": f"{base}/worlds/{w.id}/WMTSCapabilities.xml",
            }
            for w in catalog
        ],
    }
