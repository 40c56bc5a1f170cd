"""Request limits on a real API process: oversized bodies are refused before being read."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.stack import Stack

pytestmark = pytest.mark.integration


def _chunks(total: int, size: int = 16_384) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


def _api_process(stack: Stack) -> psutil.Process:
    port = stack.base_url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and port in cmdline:
            return process
    raise AssertionError("API process not found")


def test_a_body_over_the_limit_gets_413_json_whether_declared_or_chunked(stack: Stack) -> None:
    api = _api_process(stack)
    memory_before = api.memory_info().rss
    declared = httpx.post(
        f"{stack.base_url}/export",
        content=b"{" + b" " * 20_000_000 + b"}",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert declared.status_code == 413
    assert declared.json()["max_bytes"] == 65_536
    assert declared.headers["cache-control"] == "no-store"
    chunked = httpx.post(
        f"{stack.base_url}/export",
        content=_chunks(20_000_000),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert chunked.status_code == 413
    assert "request body larger than 65536 bytes" in chunked.json()["error"]
    # Neither was buffered: the API did not grow by anything like the 40 MB sent.
    assert api.memory_info().rss - memory_before < 10_000_000
    # A body within the limit still reaches the route (which then checks it).
    small = httpx.post(f"{stack.base_url}/export", json={"bbox": "x"}, timeout=30)
    assert small.status_code == 400
