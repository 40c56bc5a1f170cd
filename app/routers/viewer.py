"""The landing page: what this server is and where its tiles are."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.services import services

router = APIRouter(tags=["viewer"])


@router.get("/", response_class=HTMLResponse, summary="Landing page")
async def index(request: Request) -> HTMLResponse:
    catalog = services(request).catalog
    rows = "".join(
        f"<li><b>{html.escape(w.id)}</b> {html.escape(w.name)}: zoom {w.min_zoom}-{w.max_zoom}, "
        f"model {html.escape(w.model)}, <a href='worlds/{w.id}/tilejson.json'>TileJSON</a></li>"
        for w in catalog
    )
    return HTMLResponse(
        "<!doctype html><meta charset='utf-8'><title>synthtiles</title>"
        "<h1>synthtiles</h1><p>Synthetic satellite imagery of places that do not exist, "
        "served as XYZ tiles at <code>/{z}/{x}/{y}.png</code>.</p>"
        f"<ul>{rows}</ul><p><a href='tilejson.json'>TileJSON of the default world</a> · "
        "<a href='metrics'>metrics</a> · <a href='docs'>API docs</a></p>"
    )
