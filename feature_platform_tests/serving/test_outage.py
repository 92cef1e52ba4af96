"""A hung Redis (SIGSTOP) seen by the SDK and the HTTP server: reads fail within the online read
timeout (503 over HTTP), and values the L1 cache answers with are marked stale with their age."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from feature_platform.errors import OnlineStoreUnavailableError
from feature_platform.feature_repo import default_registry
from feature_platform.online import L1Cache, RedisOnlineStore
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.serving.server import create_app
from feature_platform.settings import Settings
from feature_platform.specs import FreshnessTier
from feature_platform_tests.online.test_read_timeouts import READ_BOUND_S
from feature_platform_tests.redis_server import RedisServer, free_port
from feature_platform_tests.serving.test_server import Start, columns, publish

FEATURES = ["user_profile:country", "user_profile:plan"]
T = TypeVar("T")


def timed(call: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    response = call()
    return time.perf_counter() - started, response


def sdk_failure_time(store: FeatureStore, user_id: int) -> float:
    started = time.perf_counter()
    with pytest.raises(OnlineStoreUnavailableError, match="TimeoutError"):
        store.get_online_features([{"user_id": user_id}], FEATURES)
    return time.perf_counter() - started


def test_sdk_reads_fail_within_the_online_read_timeout_of_the_settings(private_redis: RedisServer, tmp_path: Path) -> None:
    default = FeatureStore(Settings(redis_url=private_redis.url, data_dir=tmp_path), registry=default_registry())
    quick = FeatureStore(
        Settings(redis_url=private_redis.url, data_dir=tmp_path, online_read={"read_timeout_s": 0.1}),
        registry=default_registry(),
    )
    assert isinstance(default.online_store, RedisOnlineStore)
    publish(default.online_store)
    assert quick.get_online_features([{"user_id": 1}], FEATURES).to_dict()["country"] == ["US"]
    with private_redis.paused():
        by_default = sdk_failure_time(default, 1)
        configured = sdk_failure_time(quick, 1)
    assert 0.25 * 0.9 <= by_default < READ_BOUND_S
    assert 0.1 * 0.9 <= configured < 0.25
    assert default.get_online_features([{"user_id": 2}], FEATURES).to_dict()["country"] == ["FR"]


def test_http_reads_and_health_answer_503_within_the_bound(private_redis: RedisServer, start_server: Start) -> None:
    store = RedisOnlineStore(private_redis.url, cache=L1Cache())  # as `serve` builds it
    publish(store)
    server = start_server(create_app(default_registry(), store))
    request = {"entities": {"user_id": [1, 2]}, "features": FEATURES}
    with private_redis.paused():
        read_time, read = timed(lambda: httpx.post(f"{server.url}/get-online-features", json=request))
        health_time, health = timed(lambda: httpx.get(f"{server.url}/health"))
    assert read.status_code == 503 and read_time < READ_BOUND_S
    body = read.json()
    assert body["error"] == "online_store_unavailable" and set(body) == {"error", "detail"}
    assert "TimeoutError" in body["detail"] and f"127.0.0.1:{private_redis.port}" in body["detail"]
    assert health.status_code == 503 and health_time < READ_BOUND_S
    again = httpx.post(f"{server.url}/get-online-features", json=request)
    assert again.status_code == 200 and columns(again.json())["country"]["values"] == ["US", "FR"]


def test_l1_answers_an_outage_marked_stale_with_ages_alike_in_the_sdk_and_http(
    private_redis: RedisServer, start_server: Start, tmp_path: Path
) -> None:
    clock = [1000.0]
    cache = L1Cache(max_age_s={FreshnessTier.STATIC: 60}, clock=lambda: clock[0])
    store = RedisOnlineStore(private_redis.url, cache=cache)
    publish(store)
    server = start_server(create_app(default_registry(), store))
    sdk = FeatureStore(Settings(redis_url=private_redis.url, data_dir=tmp_path), registry=default_registry(), online_store=store)
    url = f"{server.url}/get-online-features"
    users_1_2 = {"entities": {"user_id": [1, 2]}, "features": FEATURES}
    normal = httpx.post(url, json=users_1_2).json()  # cached in L1 at t=1000
    assert normal["metadata"]["served_from"] == "online_store"
    assert "cache_ages_ms" not in columns(normal)["country"]
    clock[0] = 1090.0  # past the 60 s max age: a read asks Redis first
    with private_redis.paused():
        sdk_time, answer = timed(lambda: sdk.get_online_features([{"user_id": 1}, {"user_id": 2}], FEATURES))
        http_time, http = timed(lambda: httpx.post(url, json=users_1_2))
        cold = httpx.post(url, json={"entities": {"user_id": [3]}, "features": FEATURES})
        mixed = httpx.post(url, json={"entities": {"user_id": [1, 3]}, "features": FEATURES})
        with pytest.raises(OnlineStoreUnavailableError):
            sdk.get_online_features([{"user_id": 3}], FEATURES)
        clock[0] = 1000.0 + 601  # past max_stale_s (600 s): no longer served
        too_old = httpx.post(url, json=users_1_2)
    assert sdk_time < READ_BOUND_S and http_time < READ_BOUND_S
    assert answer.served_from == "l1_cache_stale"
    data = answer.to_dict()
    assert data["country"] == ["US", "FR"] and data["plan"] == ["pro", "free"]
    assert data["country__status"] == ["PRESENT", "PRESENT"]
    assert data["country__cache_age_ms"] == data["plan__cache_age_ms"] == [90_000, 90_000]
    assert answer[0]["country"].cache_age_ms == 90_000
    assert answer.to_df()["plan__cache_age_ms"].tolist() == [90_000, 90_000]
    assert http.status_code == 200
    body = http.json()
    assert body["metadata"]["served_from"] == "l1_cache_stale"
    for name in ("country", "plan"):
        column = columns(body)[name]
        assert column["values"] == data[name]
        assert column["statuses"] == data[f"{name}__status"]
        assert column["cache_ages_ms"] == data[f"{name}__cache_age_ms"]
    assert [cold.status_code, mixed.status_code, too_old.status_code] == [503, 503, 503]
    assert cold.json()["error"] == "online_store_unavailable"
    assert "feature_server_l1_fallbacks_total 1.0" in httpx.get(f"{server.url}/metrics").text
    recovered = httpx.post(url, json=users_1_2).json()
    assert recovered["metadata"]["served_from"] == "online_store"
    assert sdk.get_online_features([{"user_id": 1}], FEATURES)[0]["country"].cache_age_ms is None


def test_serve_read_timeout_flag(private_redis: RedisServer, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "feature_platform.yaml"
    config.write_text(f"data_dir: data\nredis_url: {private_redis.url}\nserver:\n  port: {port}\n")
    publish(RedisOnlineStore(private_redis.url))
    env = {**os.environ, "FEATURE_PLATFORM_CONFIG": str(config)}
    process = subprocess.Popen([sys.executable, "-m", "feature_platform", "serve", "--read-timeout", "0.1"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/health").json() == {"status": "ok"}
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        request = {"entities": {"user_id": [2]}, "features": FEATURES}
        with private_redis.paused():
            elapsed, down = timed(lambda: httpx.post(f"{base}/get-online-features", json=request))
        assert down.status_code == 503 and 0.1 * 0.9 <= elapsed < 0.25
    finally:
        process.terminate()
        process.wait(timeout=10)
