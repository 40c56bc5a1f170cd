"""TileJSON 3.0.0 documents, MapLibre style documents and the list of worlds."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from app.auth import require_key_for_tiles
from app.services import services
from app.validation import resolve_world
from core.world import World

router = APIRouter(tags=["metadata"], dependencies=[Depends(require_key_for_tiles)])


def base_url(request: Request) -> str:
    public = services(request).api.public_url
    return (public or str(request.base_url)).rstrip("/")


def key_query(request: Request) -> str:
    """`?key=...` when the document was asked for with a key in its URL: the URLs in it
    then carry the same key (for servers that require one for tiles)."""
    key = request.query_params.get("key")
    return f"?{urlencode({'key': key})}" if key else ""


def tilejson(request: Request, world: World) -> dict[str, Any]:
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


@router.get("/tilejson.json", summary="TileJSON of the default world")
async def default_tilejson(request: Request) -> dict[str, Any]:
    document = tilejson(request, services(request).catalog.default)
    # The default world is also served at the short /{z}/{x}/{y}.png URL.
    document["tiles"].insert(0, f"{base_url(request)}/{{z}}/{{x}}/{{y}}.png{key_query(request)}")
    return document


@router.get("/worlds/{world_id}/tilejson.json", summary="TileJSON of a world")
async def world_tilejson(request: Request, world_id: str) -> dict[str, Any]:
    return tilejson(request, resolve_world(services(request).catalog, world_id))


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


@router.get("/style.json", summary="MapLibre style of the default world")
async def default_style(request: Request) -> dict[str, Any]:
    return maplibre_style(request, services(request).catalog.default)


@router.get("/worlds/{world_id}/style.json", summary="MapLibre style of a world")
async def world_style(request: Request, world_id: str) -> dict[str, Any]:
    return maplibre_style(request, resolve_world(services(request).catalog, world_id))


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
