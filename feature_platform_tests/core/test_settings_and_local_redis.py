from pathlib import Path

import pytest
import redis

from feature_platform.errors import ConfigError
from feature_platform.local_redis import ensure_redis, redis_answers
from feature_platform.settings import DEFAULT_REDIS_URL, load_settings, recorded_private_redis_url
from feature_platform_tests.redis_server import free_port


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FEATURE_PLATFORM_HOME", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/2")
    monkeypatch.setenv("FEATURE_PLATFORM_TENANT", "team_a")
    settings = load_settings()
    assert settings.data_dir == tmp_path.resolve()
    assert settings.warehouse_path == tmp_path.resolve() / "warehouse.duckdb"
    assert (settings.redis_url, settings.tenant) == ("redis://127.0.0.1:1/2", "team_a")
    assert settings.duckdb_memory_limit is None
    assert settings.duckdb_spill_dir == tmp_path.resolve() / "duckdb_tmp"
    monkeypatch.setenv("FEATURE_PLATFORM_DUCKDB_MEMORY_LIMIT", "4GB")
    assert load_settings().duckdb_memory_limit == "4GB"


def test_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FEATURE_PLATFORM_HOME", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "http://localhost:6379")
    with pytest.raises(ConfigError, match="Redis URL must start with redis://.*'http'"):
        load_settings()
    monkeypatch.setenv("REDIS_URL", DEFAULT_REDIS_URL)
    monkeypatch.setenv("FEATURE_PLATFORM_PARTITIONS_START", "January")
    with pytest.raises(ConfigError, match="partitions_start \\(env FEATURE_PLATFORM_PARTITIONS_START\\): Input should be a valid date"):
        load_settings()
    monkeypatch.delenv("FEATURE_PLATFORM_PARTITIONS_START")
    monkeypatch.setenv("FEATURE_PLATFORM_TENANT", "a:b")
    with pytest.raises(ConfigError, match="Tenant 'a:b' is not a safe identifier"):
        load_settings()


def test_ensure_redis_uses_a_live_url(redis_url: str, tmp_path: Path) -> None:
    endpoint = ensure_redis(redis_url, tmp_path)
    assert endpoint.url == redis_url and not endpoint.started_private


def test_ensure_redis_starts_a_private_server_when_nothing_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    assert not redis_answers(dead)
    endpoint = ensure_redis(dead, tmp_path)
    try:
        assert endpoint.started_private and endpoint.url != dead
        assert redis_answers(endpoint.url)
        assert recorded_private_redis_url(tmp_path) == endpoint.url
        assert (tmp_path / "redis" / "redis.pid").exists()
        # A later call reuses the recorded server instead of starting another.
        assert ensure_redis(dead, tmp_path) == type(endpoint)(endpoint.url, started_private=False)
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.setenv("FEATURE_PLATFORM_HOME", str(tmp_path))
        assert load_settings().redis_url == endpoint.url
    finally:
        redis.Redis.from_url(endpoint.url).shutdown(nosave=True)


def test_no_redis_server_binary_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="apt-get install redis-server"):
        ensure_redis(f"redis://127.0.0.1:{free_port()}/0", tmp_path)
