"""The web viewers (vendored JS, no CDN): Leaflet at /, OpenLayers at /openlayers, MapLibre
at /maplibre, and the offline PMTiles viewer at /offline (also shipped with packages)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(tags=["viewer"])
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


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
