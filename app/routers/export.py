"""POST /export: a bbox of a world as a Cloud-Optimized GeoTIFF (one zoom) or as an
MBTiles or PMTiles package (a zoom range) for offline use.

Small exports are answered directly; larger ones become jobs (202 + a status URL with
progress, then the file), run by export workers (app/export_worker.py), never in the API.
Job state lives in Redis so any API process reports it; files are kept in the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from app import metrics
from app.auth import client_id, require_key
from app.completion import GenerationFailed, GenerationTimeout
from app.errors import ApiError, still_generating
from app.export import store_reader, write_export
from app.export_jobs import UNFINISHED, decode, file_member, file_name, job_id_of
from app.services import Services, services
from app.validation import resolve_world
from core.bbox import AreaError, parse_bbox
from core.exports import FORMATS, Export, ExportTooLarge, plan_export
from core.exports.packages import LAYERS
from core.protocol import Priority
from core.store import iter_stream

router = APIRouter(tags=["export"], dependencies=[Depends(require_key)])
log = logging.getLogger("synthtiles.export")
_NO_STORE = {"Cache-Control": "no-store"}
# The registry's names, so the request schema's enum (and its 400) follows the registry.
FormatName = Literal[tuple(FORMATS)]
LayerName = Literal[LAYERS]


class ExportRequest(BaseModel):
    world: str | None = Field(None, description="world id (default: the default world)")
    bbox: list[float] = Field(
        description="[minlon, minlat, maxlon, maxlat]", min_length=4, max_length=4
    )
    format: FormatName = Field(
        "cog",
        description="cog: one GeoTIFF at `zoom`; mbtiles or pmtiles: every tile of the bbox "
        "from `minzoom` to `maxzoom`, byte-equal to the served PNGs; dem: elevation as a "
        "Float32 GeoTIFF (metres) at `zoom`",
    )
    zoom: int | None = Field(None, description="the zoom of a COG (or of a one-zoom package)")
    minzoom: int | None = Field(None, description="lowest zoom of a tile package")
    maxzoom: int | None = Field(None, description="highest zoom of a tile package")
    sea_depth: bool | None = Field(
        None, description="dem: the sea floor (negative metres) at sea instead of nodata"
    )
    layer: LayerName | None = Field(
        None,
        description="mbtiles or pmtiles: the one layer the package holds: imagery (default), "
        "terrain (Terrain-RGB PNGs) or vector (gzipped MVT); ask once per layer",
    )

    def options(self) -> dict[str, object]:
        """The format's own options, as `plan_export` takes them (unset ones are None)."""
        return {"sea_depth": self.sea_depth, "layer": self.layer}

    def zoom_range(self) -> tuple[int, int]:
        ranged = self.minzoom is not None or self.maxzoom is not None
        if self.zoom is not None and ranged:
            raise ApiError(400, "give either zoom or minzoom and maxzoom, not both")
        if self.zoom is not None:
            return self.zoom, self.zoom
        if self.minzoom is None or self.maxzoom is None:
            raise ApiError(
                400,
                "give zoom (a COG, or a one-zoom package) or both minzoom and maxzoom "
                "(an MBTiles or PMTiles package)",
            )
        return self.minzoom, self.maxzoom


def _plan(state: Services, body: ExportRequest) -> Export:
    world = resolve_world(state.catalog, body.world or state.catalog.default_id)
    minzoom, maxzoom = body.zoom_range()
    try:
        return plan_export(
            world,
            parse_bbox(body.bbox),
            body.format,
            minzoom,
            maxzoom,
            state.api.export_max_pixels,
            body.options(),
        )
    except ExportTooLarge as exc:
        raise ApiError(413, str(exc), limit_pixels=state.api.export_max_pixels) from None
    except AreaError as exc:
        raise ApiError(400, str(exc)) from None


def _write(state: Services, plan: Export, path):
    return write_export(plan, store_reader(state.store, plan.world.id), path, state.api.attribution)


@router.post(
    "/export", summary="Export a bbox as a Cloud-Optimized GeoTIFF, MBTiles or PMTiles file"
)
async def export(request: Request, body: ExportRequest) -> Response:
    state = services(request)
    plan = _plan(state, body)
    if plan.pixels <= state.api.export_direct_max_pixels:
        try:
            await state.tiles.ensure_units(
                plan.world, plan.units(), Priority.INTERACTIVE, state.api.tile_wait_timeout_s
            )
        except GenerationTimeout:
            raise still_generating("the export's tiles are", state.api.retry_after_s) from None
        except GenerationFailed as exc:
            raise ApiError(500, f"generation failed for the export: {exc}") from None
        path = state.api.export_dir / f"direct-{uuid.uuid4().hex}{plan.suffix}"
        try:
            await asyncio.to_thread(_write, state, plan, path)
            data = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
        return Response(
            data,
            media_type=plan.media_type,
            headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'},
        )

    job_id = job_id_of(plan)
    minzoom, maxzoom = body.zoom_range()
    request_record = {
        "world": plan.world.id,
        "bbox": list(plan.bbox),
        "format": plan.format,
        "minzoom": minzoom,
        "maxzoom": maxzoom,
    }
    if plan.options:
        request_record["options"] = plan.options
    created = await state.export_jobs.create(
        job_id,
        client_id(request) or "anonymous",
        {
            "done": 0,
            "total": len(plan.units()),
            "error": "",
            "format": plan.format,
            "filename": plan.filename,
            "created": time.time(),
            "updated": time.time(),
            "request": json.dumps(request_record),
        },
        state.api.export_max_active_per_client,
        state.api.export_ttl_s,
    )
    created = created.decode() if isinstance(created, bytes) else created
    if created == "quota":
        metrics.REFUSALS.labels("export_quota").inc()
        raise ApiError(
            429,
            f"this client already has {state.api.export_max_active_per_client} unfinished "
            "exports; wait for one to finish or cancel one (DELETE /export/{job})",
            headers={"Retry-After": str(state.api.retry_after_s)},
            reason="export_quota",
        )
    accepted = {
        "job": job_id,
        "status": "queued" if created == "created" else created,
        "status_url": f"/export/{job_id}",
        "format": plan.format,
        "units": len(plan.units()),
        "pixels": plan.pixels,
        # The same export asked for again is the same job (and file), not a new one.
        "existing": created != "created",
    }
    accepted.update(plan.size_fields())
    return JSONResponse(
        accepted,
        status_code=202,
        headers={"Location": f"/export/{job_id}"},
    )


@router.get("/export/{job_id}", summary="Status and progress of an export job")
async def export_status(request: Request, job_id: str) -> JSONResponse:
    state = services(request)
    raw = await state.redis.hgetall(f"{state.keys.prefix}:export:{job_id}")
    if not raw:
        raise ApiError(404, f"no export job {job_id!r}")
    job = {k.decode(): v.decode() for k, v in raw.items()}
    body = {
        "job": job_id,
        "status": job["status"],
        "done": int(job["done"]),
        "total": int(job["total"]),
        "request": json.loads(job["request"]),
    }
    if job["status"] == "running" and time.time() - float(job["updated"]) > 30:
        # Its export worker stopped; the job is re-claimed by another (or the restarted one).
        body["stalled"] = True
    if job["error"]:
        body["error"] = job["error"]
    if job["status"] == "done":
        body["file_url"] = f"/export/{job_id}/file"
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/export/{job_id}/file", summary="The finished export")
async def export_file(request: Request, job_id: str) -> Response:
    state = services(request)
    job = await state.redis.hgetall(f"{state.keys.prefix}:export:{job_id}")
    # Jobs from before tile packages carry no format: they are COGs.
    format = job.get(b"format", b"cog").decode() if job else "cog"
    found = None
    if job and format in FORMATS and job.get(b"status") == b"done":
        found = await asyncio.to_thread(
            state.store.open_file, file_name(file_member(job_id, format))
        )
    if found is None:
        raise ApiError(404, f"export {job_id!r} has no file (yet); see /export/{job_id}")
    stream, size = found
    filename = job[b"filename"].decode()
    return StreamingResponse(
        iter_stream(stream),
        media_type=FORMATS[format].media_type,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


@router.delete(
    "/export/{job_id}",
    summary="Cancel an unfinished export, or delete a finished one and its file",
)
async def delete_export(request: Request, job_id: str) -> JSONResponse:
    state = services(request)
    before = await state.export_jobs.cancel(job_id)
    if before is None:
        raise ApiError(404, f"no export job {job_id!r}")
    before = before.decode() if isinstance(before, bytes) else before
    if before in UNFINISHED:
        return JSONResponse({"job": job_id, "status": "cancelled"}, headers=_NO_STORE)
    job = decode(await state.redis.hgetall(state.keys.export_job(job_id)))
    if job.get("format") in FORMATS:
        member = file_member(job_id, job["format"])
        await asyncio.to_thread(state.store.delete_file, file_name(member))
        await state.redis.zrem(state.keys.export_expiry, member)
    await state.redis.delete(state.keys.export_job(job_id))
    return JSONResponse({"job": job_id, "status": "deleted"}, headers=_NO_STORE)
