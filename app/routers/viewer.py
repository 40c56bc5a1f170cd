"""The two web viewers, Leaflet at / and OpenLayers at /openlayers (offline: vendored JS)."""

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


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    return FileResponse(STATIC_DIR / "favicon.png", media_type="image/png")
