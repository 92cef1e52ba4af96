"""The real-time path's settings (``stream:`` in feature_platform.yaml, FEATURE_PLATFORM_STREAM__*)
reach the processor (a real `feature-platform stream` process), the SDK's push and the
feature server's /push (real Redis)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn

from feature_platform.errors import ConfigError
from feature_platform.online.keys import StreamKeys
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.serving.server import run_server
from feature_platform.settings import Settings, load_settings
from feature_platform.streaming.errors import RateLimitedError
from feature_platform.streaming.processor import ProcessorOptions
from feature_platform.streaming.spark.job import SparkStreamOptions
from feature_platform_tests.serving.conftest import RunningServer
from feature_platform_tests.streaming.conftest import Spawn
from feature_platform_tests.streaming.helpers import click

CONFIG = """
registry: feature_platform_tests.streaming.repo:registry
stream:
  processor: {batch_size: 7, max_in_flight: 7, lease_ttl_ms: 1500, block_ms: 20}
  spark: {trigger_seconds: 0.5, checkpoint_dir: spark_ckpt}
  push: {rate_limit: 40, burst: 40}
  sources:
    clicks: {partitions: 2, max_lag: 60}
tenants:
  acme: {push_rate_limit: 5}
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Path:
    """feature_platform.yaml with stream settings, in force through FEATURE_PLATFORM_CONFIG."""
    for name in ("FEATURE_PLATFORM_HOME", "FEATURE_PLATFORM_TENANT", "FEATURE_PLATFORM_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "feature_platform.yaml"
    path.write_text(CONFIG + f"data_dir: {tmp_path / 'data'}\nredis_url: {redis_url}\n")
    monkeypatch.setenv("FEATURE_PLATFORM_CONFIG", str(path))
    return path


def test_yaml_and_environment_configure_the_stream_path(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURE_PLATFORM_STREAM__PROCESSOR__HEARTBEAT_S", "0.5")
    settings = load_settings()
    assert settings.processor_options() == ProcessorOptions(
        batch_size=7, max_in_flight=7, lease_ttl_ms=1500, block_ms=20, heartbeat_s=0.5
    )
    assert settings.spark_stream_options() == SparkStreamOptions(
        checkpoint_dir=config.parent / "spark_ckpt", trigger_seconds=0.5
    )
    limiter = settings.push_rate_limiter()
    assert limiter is not None and (limiter.rate_for("acme"), limiter.rate_for("default")) == (5.0, 40.0)
    source = settings.load_registry().view("user_clicks").stream_source
    assert (source.partitions, source.max_lag, source.shed_lag) == (2, 60, None)
    # Without a stream section: the library's own defaults, no push limit, the specs as written.
    plain = Settings(registry=settings.registry)
    assert plain.processor_options() == ProcessorOptions() and plain.push_rate_limiter() is None
    assert plain.load_registry().view("user_clicks").stream_source.partitions == 4


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FEATURE_PLATFORM_STREAM__PROCESSOR__BATCH_SIZE", "0", r"stream.processor.batch_size \(env FEATURE_PLATFORM_STREAM__PROCESSOR__BATCH_SIZE\)"),
        ("FEATURE_PLATFORM_STREAM__PROCESSOR__BATCH_SIZE", "9", r"max_in_flight \(7\) must be >= batch_size \(9\)"),
        ("FEATURE_PLATFORM_STREAM__PUSH__RATE_LIMIT", "-1", r"stream.push.rate_limit"),
        ("FEATURE_PLATFORM_STREAM__SOURCES__CLICKS__PARTITIONS", "2000", r"stream.sources.clicks.partitions"),
    ],
)
def test_bad_stream_settings_name_the_setting(
    config: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_a_source_override_for_no_stream_source_is_refused(config: Path) -> None:
    settings = load_settings(stream={"sources": {"clickz": {"max_lag": 5}}})
    with pytest.raises(ConfigError, match=r"stream.sources names \['clickz'\].*its stream sources: \['clicks'\]"):
        settings.load_registry()


def test_the_processor_reads_its_batch_size_and_the_partitions_from_the_settings(
    config: Path, redis_client: redis.Redis, spawn_processor: Spawn
) -> None:
    settings = load_settings()
    store = FeatureStore(settings)
    now = datetime.now(UTC)
    assert store.push("clicks", [click(user, now) for user in range(30)]).accepted == 30
    store.close()
    keys = StreamKeys("default", "clicks")
    lengths = [redis_client.xlen(keys.log(p)) for p in range(4)]
    assert lengths[2:] == [0, 0] and sum(lengths) == 30  # 2 partitions, from stream.sources
    proc = spawn_processor(settings, "--until-idle")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    found = re.search(r"processed (\d+) event\(s\): (\d+) applied.*, (\d+) batch\(es\)", out)
    assert found is not None, out
    # 7 entries per batch at most (the default would read each partition in one batch).
    assert int(found.group(2)) == 30 and int(found.group(3)) >= sum(math.ceil(n / 7) for n in lengths)


def test_the_sdk_and_the_server_limit_pushes_as_configured(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    store = FeatureStore(settings)
    now = datetime.now(UTC)
    assert store.push("clicks", [click(1, now)] * 40).accepted == 40  # a full bucket of 40
    with pytest.raises(RateLimitedError) as refused:
        store.push("clicks", [click(1, now)] * 10)
    assert refused.value.rate == 40.0 and refused.value.retry_after > 0
    store.close()

    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: apps.append(app))
    run_server(settings)  # what `feature-platform serve` runs, with uvicorn not started
    server = RunningServer(apps[0]).start()
    try:
        rows: list[dict[str, Any]] = [{**click(2, now), "event_timestamp": now.isoformat()}] * 5
        answer = httpx.post(f"{server.url}/push", json={"source": "clicks", "rows": rows}, headers={"X-Tenant": "acme"})
        assert answer.status_code == 200
        answer = httpx.post(f"{server.url}/push", json={"source": "clicks", "rows": rows}, headers={"X-Tenant": "acme"})
        assert answer.status_code == 429 and answer.json()["error"] == "rate_limited"
        assert "5 events/s" in answer.json()["detail"] and int(answer.headers["Retry-After"]) >= 1
        # User 1's partition holds the SDK's 40 events; 25 more put it above stream.sources' max_lag of 60.
        more = [{**click(1, now), "event_timestamp": now.isoformat()}] * 25
        assert httpx.post(f"{server.url}/push", json={"source": "clicks", "rows": more}).status_code == 200
        answer = httpx.post(f"{server.url}/push", json={"source": "clicks", "rows": more[:1]})
        assert answer.status_code == 429 and answer.json()["error"] == "backpressure"
    finally:
        server.stop()
