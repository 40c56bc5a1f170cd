"""API keys and security headers, on real API processes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from app.auth import ApiKeys, presented_key
from core.settings import ApiSettings
from tests.stack import Stack

EXPORT = {"world": "testland", "bbox": [-10, -8, 0, 0], "zoom": 4}


def test_keys_from_settings_and_file(tmp_path: Path) -> None:
    assert ApiKeys.from_settings(ApiSettings(api_keys=None)) is None  # no keys: all public
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# ops team\nsha256:{hashlib.sha256(b'filed').hexdigest()}\n")
    keys = ApiKeys.from_settings(ApiSettings(api_keys="alpha-key-1, b2", api_keys_file=keys_file))
    assert keys is not None
    assert keys.client_of("alpha-key-1") and keys.client_of("filed") and keys.client_of("b2")
    assert keys.client_of("a2") is None and keys.client_of(None) is None
    assert "alpha-key-1" not in repr(keys)  # only hashes are kept
    keys_file.write_text("plain-key\n")
    with pytest.raises(ValueError, match="expected 'sha256:<64 hex digits>'"):
        ApiKeys.from_settings(ApiSettings(api_keys_file=keys_file))
    with pytest.raises(ValueError, match="no API keys are"):
        ApiKeys.from_settings(ApiSettings(tiles_require_key=True))
    assert presented_key({b"authorization": b"Bearer  k1 "}, b"") == "k1"
    assert presented_key({}, b"x=1&key=k2") == "k2"
    assert presented_key({b"authorization": b"Basic abc"}, b"") is None


@pytest.mark.integration
def test_exports_and_metrics_need_a_key_tiles_stay_public(stack: Stack) -> None:
    api = stack.start_api(SYNTHTILES_API_KEYS="s3cret,other")
    jobs_before = stack.jobs_added()
    missing = httpx.post(f"{api}/export", json=EXPORT, timeout=60)
    assert missing.status_code == 401 and "API key is required" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["cache-control"] == "no-store"
    wrong = httpx.post(
        f"{api}/export", json=EXPORT, headers={"Authorization": "Bearer nope"}, timeout=60
    )
    assert wrong.status_code == 403 and "not valid" in wrong.json()["error"]
    assert stack.jobs_added() == jobs_before  # refused before any work was queued
    good = httpx.post(
        f"{api}/export", json=EXPORT, headers={"Authorization": "Bearer s3cret"}, timeout=300
    )
    assert good.status_code == 200 and good.headers["content-type"] == "image/tiff"
    assert httpx.get(f"{api}/metrics", timeout=30).status_code == 401
    metrics = httpx.get(f"{api}/metrics", headers={"Authorization": "Bearer other"}, timeout=30)
    assert metrics.status_code == 200 and 'synthtiles_refusals_total{reason="unauthorized"}' in (
        metrics.text
    )
    tile = httpx.get(f"{api}/4/7/7.png", timeout=120)
    assert tile.status_code == 200 and tile.headers["x-content-type-options"] == "nosniff"
    page = httpx.get(f"{api}/", timeout=30)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(f"{api}/healthz", timeout=30).status_code == 200  # probes stay open


@pytest.mark.integration
def test_tiles_can_require_a_key_too(stack: Stack) -> None:
    api = stack.start_api(SYNTHTILES_API_KEYS="tiles-key", SYNTHTILES_TILES_REQUIRE_KEY="true")
    assert httpx.get(f"{api}/4/7/8.png", timeout=60).status_code == 401
    first = httpx.get(f"{api}/4/7/8.png?key=tiles-key", timeout=120)
    assert first.status_code == 200
    # Now in the process's memory cache: the hot path still asks for the key.
    assert httpx.get(f"{api}/4/7/8.png", timeout=30).status_code == 401
    assert httpx.get(f"{api}/4/7/8.png?key=wrong", timeout=30).status_code == 403
    by_header = httpx.get(
        f"{api}/4/7/8.png", headers={"Authorization": "Bearer tiles-key"}, timeout=30
    )
    assert by_header.status_code == 200 and by_header.content == first.content
    assert httpx.get(f"{api}/tilejson.json", timeout=30).status_code == 401
    tilejson = httpx.get(f"{api}/tilejson.json?key=tiles-key", timeout=30).json()
    assert all(t.endswith(".png?key=tiles-key") for t in tilejson["tiles"])
    capabilities = httpx.get(f"{api}/WMTSCapabilities.xml?key=tiles-key", timeout=30)
    assert "{TileRow}.png?key=tiles-key" in capabilities.text
    assert httpx.get(f"{api}/", timeout=30).status_code == 200  # the viewer page itself
