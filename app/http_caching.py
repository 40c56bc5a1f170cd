"""HTTP caching rules shared by the tile routes and the hot path."""

from __future__ import annotations

import logging

from starlette.responses import Response

from app import metrics
from core.protocol import etag_of

log = logging.getLogger("synthtiles.cache")

# Tiles never change once generated.
TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match semantics (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


def cached_etag(png: bytes, stored_etag: bytes | None, verify: bool) -> str | None:
    """The ETag to serve a Redis-cached tile with, or None when its bytes no longer hash to
    it (changed or damaged in Redis): then it is not served as immutable, and the caller
    goes to the store, which holds the truth."""
    if stored_etag is None:
        return etag_of(png)
    etag = stored_etag.decode()
    if verify and etag_of(png) != etag:
        metrics.CACHE_INTEGRITY_FAILURES.inc()
        log.warning("a cached tile's bytes do not match its ETag %s; using the store", etag)
        return None
    return etag


def png_response(method: str, png: bytes, headers: dict[str, str]) -> Response:
    """A PNG answer; HEAD gets the same headers with the length and no body."""
    if method == "HEAD":
        return Response(
            status_code=200,
            media_type="image/png",
            headers={**headers, "Content-Length": str(len(png))},
        )
    return Response(png, media_type="image/png", headers=headers)
