from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.stack import Stack, redis_url


@pytest.fixture(scope="session", autouse=True)
def _redis_available() -> None:
    try:
        redis.from_url(redis_url()).ping()
    except redis.ConnectionError as exc:
        pytest.exit(f"the tests need a Redis server at {redis_url()}: {exc}", returncode=3)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An API server and one worker, sharing a fresh key prefix and tile store."""
    tmp: Path = tmp_path_factory.mktemp("stack")
    deployment = Stack(tmp, f"synthtiles-test-{uuid.uuid4().hex[:8]}")
    try:
        deployment.base_url = deployment.start_api()
        deployment.start_worker("w1")
        yield deployment
    finally:
        deployment.stop()
