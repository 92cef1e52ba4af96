"""feature_platform.yaml, environment overrides, secrets and tenants: one typed configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feature_platform.errors import ConfigError
from feature_platform.online import TenantIsolation
from feature_platform.settings import Settings, load_settings

CONFIG = """
data_dir: platform_data
redis_url: redis://127.0.0.1:6390/1
tenant: acme
partitions_start: 2026-03-01
online_write: {batch_size: 50}
server: {port: 7000, rate_limit: 100}
on_call: {webhook_url: "https://hooks.example.com/T0/B0/s3cr3tpath", kind: slack}
tenants:
  globex: {database: 3, rate_limit: 5}
  initech: {url: "redis://:tenantpw@10.0.0.9:6379/0"}
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("FEATURE_PLATFORM_HOME", "REDIS_URL", "FEATURE_PLATFORM_TENANT", "FEATURE_PLATFORM_ONCALL_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "conf" / "feature_platform.yaml"
    path.parent.mkdir()
    path.write_text(CONFIG)
    monkeypatch.setenv("FEATURE_PLATFORM_CONFIG", str(path))
    return path


def test_the_yaml_file_configures_everything_and_relative_paths_follow_the_file(config_file: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == config_file.parent / "platform_data"
    assert (settings.redis_url, settings.tenant, str(settings.partitions_start)) == (
        "redis://127.0.0.1:6390/1", "acme", "2026-03-01"
    )
    assert settings.online_write.batch_size == 50 and settings.online_write.chunk_rows == 200_000
    assert settings.checkpoints_dir == settings.data_dir / "checkpoints"
    routing = settings.tenant_routing()
    assert routing.url_for("globex", settings.redis_url) == "redis://127.0.0.1:6390/3"
    assert routing.target("initech").isolation is TenantIsolation.URL
    limiter = settings.rate_limiter()
    assert (limiter.rate_for("globex"), limiter.rate_for("acme")) == (5.0, 100.0)
    assert settings.served_tenants() == ["acme", "globex", "initech"]


def test_environment_overrides_the_file_and_arguments_override_both(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FEATURE_PLATFORM_TENANT", "globex")
    monkeypatch.setenv("FEATURE_PLATFORM_SERVER__PORT", "7100")
    monkeypatch.setenv("FEATURE_PLATFORM_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "rk-123")
    settings = load_settings(online_write={"chunk_rows": 7})
    assert (settings.tenant, settings.server.port, settings.server.rate_limit) == ("globex", 7100, 100.0)
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.online_write.batch_size == 50 and settings.online_write.chunk_rows == 7
    assert settings.on_call.kind == "slack" and settings.on_call.routing_key is not None
    assert settings.on_call.routing_key.get_secret_value() == "rk-123"
    assert load_settings(tenant="initech").tenant == "initech"


def test_secrets_are_never_shown(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "rk-123")
    text = f"{load_settings()!r} {load_settings()}"
    for secret in ("s3cr3tpath", "tenantpw", "rk-123"):
        assert secret not in text
    config_file.write_text(CONFIG.replace("kind: slack", "kind: email"))
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "on_call.kind (env FEATURE_PLATFORM_ON_CALL__KIND)" in str(error.value)
    assert "s3cr3tpath" not in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tenants": {"bad:name": {}}}, "Tenant 'bad:name' is not a safe identifier"),
        ({"tenants": {"x": {"database": 1, "url": "redis://h/0"}}}, "tenants.x .*: set either 'database' or 'url'"),
        ({"tenants": {"x": {"db": 1}}}, "tenants.x.db .*Extra inputs are not permitted"),
        ({"server": {"port": 0}}, "server.port .*greater than or equal to 1"),
        ({"online_read": {"read_timeout_s": 0}}, "online_read.read_timeout_s .*greater than 0"),
        ({"online_read": {"connect_timeout_s": "inf"}}, "online_read.connect_timeout_s .*finite number"),
        ({"online_read": {"read_timeout": 0.2}}, "online_read.read_timeout .*Extra inputs are not permitted"),
        ({"online_write": {"socket_timeout_s": -5}}, "online_write.socket_timeout_s .*greater than 0"),
        ({"online_write": {"connect_timeout_s": "nan"}}, "online_write.connect_timeout_s .*finite number"),
    ],
)
def test_bad_settings_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(**change)  # type: ignore[arg-type]


def test_a_named_config_file_that_is_missing_or_not_a_mapping_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEATURE_PLATFORM_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="FEATURE_PLATFORM_CONFIG=.*nope.yaml' is not a file"):
        load_settings()
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    monkeypatch.setenv("FEATURE_PLATFORM_CONFIG", str(tmp_path / "list.yaml"))
    with pytest.raises(ConfigError, match="must hold a mapping of settings"):
        load_settings()


def test_loading_settings_starts_nothing_and_imports_no_service_module(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from feature_platform.settings import load_settings\n"
        "load_settings()\n"
        "loaded = [m for m in ('feature_platform.local_redis', 'redis', 'dagster') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_online_timeouts_default_for_serving_and_come_from_file_and_environment(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = Settings()
    assert (defaults.online_read.read_timeout_s, defaults.online_read.connect_timeout_s) == (0.25, 0.1)
    assert (defaults.online_write.socket_timeout_s, defaults.online_write.connect_timeout_s) == (5.0, 2.0)
    config_file.write_text(CONFIG + "online_read: {read_timeout_s: 0.15}\n")
    monkeypatch.setenv("FEATURE_PLATFORM_ONLINE_READ__CONNECT_TIMEOUT_S", "0.05")
    monkeypatch.setenv("FEATURE_PLATFORM_ONLINE_WRITE__SOCKET_TIMEOUT_S", "30")
    settings = load_settings()
    assert settings.online_timeouts() == {
        "read_timeout": 0.15, "read_connect_timeout": 0.05, "socket_timeout": 30.0, "socket_connect_timeout": 2.0,
    }
    # Batch jobs' reads (consistency checks, rebuilds) are not serving: batch timeouts.
    assert settings.online_timeouts(batch_reads=True) == {
        "read_timeout": 30.0, "read_connect_timeout": 2.0, "socket_timeout": 30.0, "socket_connect_timeout": 2.0,
    }
    monkeypatch.setenv("FEATURE_PLATFORM_ONLINE_READ__READ_TIMEOUT_S", "-1")
    with pytest.raises(ConfigError, match="online_read.read_timeout_s \\(env FEATURE_PLATFORM_ONLINE_READ__READ_TIMEOUT_S\\)"):
        load_settings()
