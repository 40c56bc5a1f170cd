"""API keys: who may export, read the metrics, and (optionally) fetch tiles.

Keys come from SYNTHTILES_API_KEYS (comma-separated) and/or SYNTHTILES_API_KEYS_FILE (one
``sha256:<hex>`` per line, so the file never holds a key itself). Only their sha256 is kept
in memory; a presented key is hashed and looked up. Clients send ``Authorization: Bearer
KEY``; tile URLs may carry ``?key=KEY`` instead (map libraries cannot always set headers).
Keys are never logged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import Request

from app import metrics
from app.errors import ApiError
from core.settings import ApiSettings


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeys:
    hashes: frozenset[str]
    tiles_require_key: bool = False

    @classmethod
    def from_settings(cls, api: ApiSettings) -> ApiKeys | None:
        """None when no keys are configured (everything public, as before keys existed)."""
        hashes = {key_hash(k.strip()) for k in (api.api_keys or "").split(",") if k.strip()}
        if api.api_keys_file is not None:
            hashes |= _read_key_file(api.api_keys_file)
        if not hashes:
            if api.tiles_require_key:
                raise ValueError("SYNTHTILES_TILES_REQUIRE_KEY is set but no API keys are")
            return None
        return cls(frozenset(hashes), api.tiles_require_key)

    def client_of(self, presented: str | None) -> str | None:
        """The client id (a prefix of the key's hash) of a valid key, else None."""
        if not presented:
            return None
        digest = key_hash(presented)
        return f"key:{digest[:16]}" if digest in self.hashes else None

    def require(self, presented: str | None) -> str:
        if not presented:
            metrics.REFUSALS.labels("unauthorized").inc()
            raise ApiError(
                401,
                "an API key is required: send Authorization: Bearer KEY",
                headers={"WWW-Authenticate": 'Bearer realm="synthtiles"'},
            )
        client = self.client_of(presented)
        if client is None:
            metrics.REFUSALS.labels("unauthorized").inc()
            raise ApiError(
                403,
                "the API key is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="synthtiles", error="invalid_token"'},
            )
        return client


def _read_key_file(path: Path) -> set[str]:
    hashes = set()
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, digest = line.partition(":")
        if kind != "sha256" or len(digest) != 64:
            raise ValueError(f"{path}:{number}: expected 'sha256:<64 hex digits>'")
        hashes.add(digest.lower())
    return hashes


def presented_key(headers: dict[bytes, bytes] | None, query_string: bytes) -> str | None:
    """The key a request carries: a Bearer token, else a `key` query parameter."""
    authorization = (headers or {}).get(b"authorization", b"").decode("latin-1")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    values = parse_qs(query_string.decode("latin-1")).get("key")
    return values[0] if values else None


def request_key(request: Request) -> str | None:
    return presented_key(dict(request.scope["headers"]), request.scope.get("query_string", b""))


async def require_key(request: Request) -> None:
    """Route dependency: exports, job status and files, metrics (when keys are set)."""
    keys: ApiKeys | None = request.app.state.api_keys
    if keys is not None:
        keys.require(request_key(request))


async def require_key_for_tiles(request: Request) -> None:
    """Route dependency: tiles and their metadata, when SYNTHTILES_TILES_REQUIRE_KEY is set."""
    keys: ApiKeys | None = request.app.state.api_keys
    if keys is not None and keys.tiles_require_key:
        keys.require(request_key(request))


def client_id(request: Request) -> str | None:
    """Whom fair use counts: a valid API key, else the client's address."""
    keys = request.app.state.api_keys
    if keys is not None:
        client = keys.client_of(request_key(request))
        if client is not None:
            return client
    return f"ip:{request.client.host}" if request.client else None
