from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.stack import Stack, redis_url

_REDIS_CHECKED: list[bool] = []


def require_redis() -> None:
    """Integration tests talk to a real Redis: without one the run stops, saying so."""
    if _REDIS_CHECKED:
        return
    try:
        redis.from_url(redis_url()).ping()
    except redis.ConnectionError as exc:
        pytest.exit(
            f"integration tests need a Redis server at {redis_url()}: {exc} "
            '(unit tests alone: pytest -m "not integration")',
            returncode=3,
        )
    _REDIS_CHECKED.append(True)


@pytest.fixture(autouse=True)
def _redis_for_integration_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("integration") is not None:
        require_redis()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An API server and one worker, sharing a fresh key prefix and tile store."""
    require_redis()  # module-scoped: set up before any function-scoped check runs
    tmp: Path = tmp_path_factory.mktemp("stack")
    deployment = Stack(tmp, f"synthtiles-test-{uuid.uuid4().hex[:8]}")
    try:
        deployment.base_url = deployment.start_api()
        deployment.start_worker("w1")
        yield deployment
    finally:
        deployment.stop()
