"""The OpenAPI document, made to say what the routes really accept and answer.

FastAPI documents a 422 for every route with parameters, but this API answers request
validation errors with 400 and the JSON error body (app/errors.py); tile coordinates are
parsed by hand (for precise messages) and so would be documented as free strings. This
post-processing fixes both and lists the errors each kind of route can give.
"""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.tile_url import DEFAULT_ROUTE, PARAMETER_SCHEMAS, WORLD_ROUTE

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "what was wrong, and what is allowed"},
        "status": {"type": "integer"},
    },
    "additionalProperties": True,
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR_REF}},
    }
    if retry_after:
        response["headers"] = _RETRY_AFTER
    return response


def tile_responses() -> dict[str, Any]:
    return {
        "200": {"description": "the tile", "content": {"image/png": {}}},
        "304": {"description": "If-None-Match matched the tile's ETag"},
        "400": _error("malformed coordinates or extension"),
        "401": _error("a key is required (SYNTHTILES_TILES_REQUIRE_KEY)"),
        "403": _error("the key is not valid"),
        "404": _error("unknown world, zoom outside its range, tile outside its extent"),
        "429": _error("this client's budget of tiles needing generation is spent", True),
        "500": _error("the tile's job failed for good"),
        "503": _error("still generating, queue full, or Redis unavailable", True),
    }


def _keyed_responses(path: str, method: str) -> dict[str, Any]:
    """Errors of the routes behind an API key (exports, metrics) beyond the generic ones."""
    responses = {
        "401": _error("an API key is required (SYNTHTILES_API_KEYS is set)"),
        "403": _error("the API key is not valid"),
    }
    if path == "/metrics":
        responses["404"] = _error("metrics are served on their own port")
    if "{job_id}" in path:
        responses["404"] = _error("no such export job (or no file yet)")
    if path == "/export" and method == "post":
        responses["404"] = _error("unknown world")
        responses["413"] = _error("the export or the request body is too large")
        responses["429"] = _error("this client has too many unfinished exports", True)
        responses["503"] = _error("the export's tiles are still being generated", True)
    return responses


def document(app: FastAPI) -> dict[str, Any]:
    # GET and HEAD of one route share FastAPI's operation id; they are renamed below.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Duplicate Operation ID")
        doc = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if method == "head" and "operationId" in operation:
                operation["operationId"] += "_head"
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses["400"] = _error("invalid request: the body says which field and why")
            is_tile = path in (DEFAULT_ROUTE, WORLD_ROUTE)
            if is_tile:
                responses.update(tile_responses())
            if path.startswith("/export") or path == "/metrics":
                responses.update(_keyed_responses(path, method))
            for parameter in operation.get("parameters", []):
                if is_tile and parameter["name"] in PARAMETER_SCHEMAS:
                    parameter["schema"] = PARAMETER_SCHEMAS[parameter["name"]]
                if parameter["name"] == "world_id" and "404" not in responses:
                    responses["404"] = _error("unknown world")
    return doc


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
