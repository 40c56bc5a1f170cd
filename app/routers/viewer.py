"""The web viewers (vendored JS, no CDN): Leaflet at /, OpenLayers at /openlayers, MapLibre
at /maplibre, and the offline PMTiles viewer at /offline (also shipped with packages); and
`layers.json`, which tells a viewer which of a world's layers this server offers, so that it
shows only the switches that work (a browser logs every 4xx it is answered)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse

from app.auth import require_key_for_tiles
from app.routers.factory import WorldRoutes, world_router
from app.routers.tilejson import base_url, key_query
from core.plans import plan_spec
from core.world import World

router = APIRouter(tags=["viewer"])
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# The plan layers a viewer can show, by the world-scoped path of the document it opens:
# (layer, document kind, path). Terrain and vector tiles exist only for plan worlds.
PLAN_LAYER_DOCUMENTS = (
    ("terrain", "tilejson", "/terrain.json"),
    ("vector", "tilejson", "/vector.json"),
    ("vector", "style", "/map-style.json"),
)


def _mounted(request: Request, path: str) -> bool:
    """Whether this app serves `path` for named worlds (a layer's router may be absent).
    Read from the OpenAPI document, which FastAPI builds once and keeps: included routers
    are not listed one route at a time in `app.routes`."""
    return "/worlds/{world_id}" + path in request.app.openapi()["paths"]


def layers_document(request: Request, world: World) -> dict[str, Any]:
    base = f"{base_url(request)}/worlds/{world.id}"
    key = key_query(request)
    layers: dict[str, dict[str, str]] = {
        "imagery": {"tilejson": f"{base}/tilejson.json{key}", "style": f"{base}/style.json{key}"}
    }
    if plan_spec(world) is not None:
        for layer, kind, path in PLAN_LAYER_DOCUMENTS:
            if _mounted(request, path):
                layers.setdefault(layer, {})[kind] = f"{base}{path}{key}"
    return {"world": world.id, "layers": layers}


def _routes(routes: WorldRoutes) -> None:
    @routes.route(
        "/layers.json",
        summary="The layers of a world (imagery, terrain, vector) and their documents",
        default_summary="The layers of the default world (imagery, terrain, vector)",
    )
    async def layers(request: Request, world: World = routes.world) -> dict[str, Any]:
        return layers_document(request, world)


router.include_router(world_router(_routes, dependencies=[Depends(require_key_for_tiles)]))


@router.get("/", response_class=HTMLResponse, summary="Leaflet viewer")
async def leaflet_viewer() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "leaflet.html").read_text())


@router.get("/openlayers", response_class=HTMLResponse, summary="OpenLayers viewer")
async def openlayers_viewer() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "openlayers.html").read_text())


@router.get("/maplibre", response_class=HTMLResponse, summary="MapLibre GL viewer")
async def maplibre_viewer() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "maplibre.html").read_text())


@router.get("/offline", response_class=HTMLResponse, summary="Offline viewer for a PMTiles package")
async def offline_viewer() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "offline.html").read_text())


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def api_reference() -> HTMLResponse:
    """Swagger UI, vendored: FastAPI's default page loads it from a CDN."""
    return HTMLResponse((STATIC_DIR / "docs.html").read_text())


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    return FileResponse(STATIC_DIR / "favicon.png", media_type="image/png")
