"""The composition root: settings read once, checked together, objects built from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.cli import main
from core.config import Config, ConfigError
from core.settings import QueueSettings, StoreSettings, WorkerSettings
from core.store import FileTileStore


def test_settings_refuse_values_out_of_range(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in [
        ("SYNTHTILES_BATCH_SIZE", "0"),
        ("SYNTHTILES_HEARTBEAT_S", "-1"),
        ("SYNTHTILES_MAX_ATTEMPTS", "0"),
        ("SYNTHTILES_METRICS_PORT", "70000"),
    ]:
        with monkeypatch.context() as env:
            env.setenv(name, value)
            with pytest.raises(ValidationError, match=name.removeprefix("SYNTHTILES_").lower()):
                Config.from_env()
    with monkeypatch.context() as env:
        env.setenv("SYNTHTILES_REDIS_PREFIX", "bad prefix with spaces")
        with pytest.raises(ValidationError, match="redis_prefix"):
            Config.from_env()


def test_settings_that_do_not_work_together_are_refused() -> None:
    # A heartbeat slower than half the lease would let live workers lose their units.
    with pytest.raises(ConfigError, match="LEASE_TTL_MS"):
        Config.from_env(worker=WorkerSettings(heartbeat_s=20, lease_ttl_ms=30_000))
    with pytest.raises(ConfigError, match="CLAIM_IDLE_MS"):
        Config.from_env(
            worker=WorkerSettings(heartbeat_s=5, lease_ttl_ms=60_000),
            queue=QueueSettings(claim_idle_ms=8_000),
        )
    Config.from_env(worker=WorkerSettings(heartbeat_s=5, lease_ttl_ms=10_000))  # fine


def test_the_root_builds_each_shared_object_once(tmp_path: Path) -> None:
    config = Config.from_env(store=StoreSettings(store_root=tmp_path))
    assert isinstance(config.tile_store, FileTileStore)
    assert config.tile_store is config.tile_store
    assert config.catalog is config.catalog
    assert config.keys.prefix == config.redis.redis_prefix


def test_missing_redis_url_is_a_clear_error() -> None:
    config = Config.from_env()
    if config.redis.redis_url:
        pytest.skip("SYNTHTILES_REDIS_URL is set in this environment")
    with pytest.raises(ConfigError, match="SYNTHTILES_REDIS_URL is not set"):
        config.redis_client()


def test_commands_refuse_invalid_settings_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNTHTILES_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SYNTHTILES_HEARTBEAT_S", "30")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "synthtiles worker: invalid settings" in err and "LEASE_TTL_MS" in err
