"""HTTP caching rules shared by the tile routes and the hot path."""

from __future__ import annotations

from starlette.responses import Response

# Tiles never change once generated.
TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match semantics (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


def png_response(method: str, png: bytes, headers: dict[str, str]) -> Response:
    """A PNG answer; HEAD gets the same headers with the length and no body."""
    if method == "HEAD":
        return Response(
            status_code=200,
            media_type="image/png",
            headers={**headers, "Content-Length": str(len(png))},
        )
    return Response(png, media_type="image/png", headers=headers)
