"""Starlette responses for tiles; the caching rules themselves are in core/tile_cache.py,
shared with the hot path."""

from __future__ import annotations

from starlette.responses import Response

from core.tile_cache import tile_answer


def tile_response(
    method: str,
    if_none_match: str | None,
    png: bytes,
    etag: str,
    source: str,
    media_type: bytes = b"image/png",
) -> Response:
    """A tile answered as the hot path answers it (same status, headers and body)."""
    status, headers, body = tile_answer(method, if_none_match, png, etag, source, media_type)
    response = Response(body, status_code=status)
    response.raw_headers = headers  # exactly tile_answer's, no Starlette-computed length
    return response


def png_response(method: str, png: bytes, headers: dict[str, str]) -> Response:
    """A PNG answer; HEAD gets the same headers with the length and no body."""
    if method == "HEAD":
        return Response(
            status_code=200,
            media_type="image/png",
            headers={**headers, "Content-Length": str(len(png))},
        )
    return Response(png, media_type="image/png", headers=headers)
