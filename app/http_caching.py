"""HTTP caching rules shared by the tile routes and the hot path."""

from __future__ import annotations

# Tiles never change once generated.
TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match semantics (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates
