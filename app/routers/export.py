"""POST /export: a bbox of a world at one zoom as a Cloud-Optimized GeoTIFF.

Small exports are answered directly; larger ones become jobs (202 + a status URL with
progress, then the file). Job state lives in Redis so any API process can report it; the
file is written atomically into the export directory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from app.errors import ApiError, still_generating
from app.export import ExportPlan, ExportTooLarge, plan_export, write_cog
from app.seeding import SeedError, parse_bbox
from app.services import Services, services
from app.tile_service import GenerationFailed, GenerationTimeout
from app.validation import resolve_world
from worker.png import decode_tile
from worker.protocol import Priority

router = APIRouter(tags=["export"])
log = logging.getLogger("synthtiles.export")
_JOB_TTL_S = 7 * 24 * 3600
_tasks: set[asyncio.Task] = set()  # keep references: background tasks must not be collected


class ExportRequest(BaseModel):
    world: str | None = Field(None, description="world id (default: the default world)")
    bbox: list[float] = Field(description="[minlon, minlat, maxlon, maxlat]")
    zoom: int
    format: Literal["cog"] = "cog"


def _plan(state: Services, body: ExportRequest) -> ExportPlan:
    world = resolve_world(state.catalog, body.world or state.catalog.default_id)
    try:
        return plan_export(world, parse_bbox(body.bbox), body.zoom, state.api.export_max_pixels)
    except ExportTooLarge as exc:
        raise ApiError(413, str(exc), limit_pixels=state.api.export_max_pixels) from None
    except SeedError as exc:
        raise ApiError(400, str(exc)) from None


def _read_tile(state: Services, world_id: str):
    def read(z: int, x: int, y: int):
        data = state.store.get(world_id, z, x, y)
        if data is None:
            raise RuntimeError(f"tile {world_id}/{z}/{x}/{y} vanished from the store")
        return decode_tile(data)

    return read


def _filename(plan: ExportPlan) -> str:
    return f"{plan.world.id}-z{plan.zoom}-{plan.width}x{plan.height}.tif"


@router.post("/export", summary="Export a bbox as a Cloud-Optimized GeoTIFF")
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
        path = state.api.export_dir / f"direct-{uuid.uuid4().hex}.tif"
        await asyncio.to_thread(write_cog, plan, _read_tile(state, plan.world.id), path)
        data = path.read_bytes()
        path.unlink(missing_ok=True)
        return Response(
            data,
            media_type="image/tiff",
            headers={"Content-Disposition": f'attachment; filename="{_filename(plan)}"'},
        )

    job_id = uuid.uuid4().hex
    key = f"{state.keys.prefix}:export:{job_id}"
    await state.redis.hset(
        key,
        mapping={
            "status": "running",
            "done": 0,
            "total": len(plan.units()),
            "error": "",
            "filename": _filename(plan),
            "updated": time.time(),
            "request": body.model_dump_json(),
        },
    )
    await state.redis.expire(key, _JOB_TTL_S)
    task = asyncio.create_task(_run_job(state, plan, job_id, key))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return JSONResponse(
        {
            "job": job_id,
            "status": "running",
            "status_url": f"/export/{job_id}",
            "units": len(plan.units()),
            "width": plan.width,
            "height": plan.height,
        },
        status_code=202,
        headers={"Location": f"/export/{job_id}"},
    )


async def _run_job(state: Services, plan: ExportPlan, job_id: str, key: str) -> None:
    done = 0

    def progressed() -> None:
        nonlocal done
        done += 1

    async def report() -> None:
        while True:
            await state.redis.hset(key, mapping={"done": done, "updated": time.time()})
            await asyncio.sleep(1)

    reporter = asyncio.create_task(report())
    try:
        await state.tiles.ensure_units(
            plan.world, plan.units(), Priority.SEEDING, state.api.export_timeout_s, progressed
        )
        path = state.api.export_dir / f"{job_id}.tif"
        await asyncio.to_thread(write_cog, plan, _read_tile(state, plan.world.id), path)
        await state.redis.hset(key, mapping={"status": "done", "done": done})
    except Exception as exc:
        log.exception("export %s failed", job_id)
        await state.redis.hset(
            key, mapping={"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        )
    finally:
        reporter.cancel()


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
        body.update(status="failed", error="the API process running this export stopped")
    if job["error"]:
        body["error"] = job["error"]
    if job["status"] == "done":
        body["file_url"] = f"/export/{job_id}/file"
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/export/{job_id}/file", summary="The finished export")
async def export_file(request: Request, job_id: str) -> FileResponse:
    state = services(request)
    job = await state.redis.hgetall(f"{state.keys.prefix}:export:{job_id}")
    path = state.api.export_dir / f"{job_id}.tif"
    if not job or not path.is_file():
        raise ApiError(404, f"export {job_id!r} has no file (yet); see /export/{job_id}")
    return FileResponse(path, media_type="image/tiff", filename=job[b"filename"].decode())
