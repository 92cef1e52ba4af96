"""The HTTP feature server against real Redis: answers, 4xx errors, outages, metrics, limits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from feature_platform.feature_repo import default_registry
from feature_platform.feature_repo.views import user_profile, user_purchase_activity
from feature_platform.online import L1Cache, OnlineStore, RedisOnlineStore, TenantRouting
from feature_platform.serving.rate_limit import TenantRateLimiter
from feature_platform.serving.server import create_app
from feature_platform_tests.online.conftest import now_utc
from feature_platform_tests.redis_server import RedisServer, free_port
from feature_platform_tests.serving.conftest import RunningServer

Start = Callable[[Any], RunningServer]


def publish(store: RedisOnlineStore, country: str = "US") -> Any:
    now = now_utc()
    store.write(user_profile, pd.DataFrame({
        "user_id": [1, 2], "event_timestamp": [now - timedelta(days=1)] * 2, "created_timestamp": [now] * 2,
        "country": [country, "FR"], "plan": ["pro", "free"], "is_paying": [True, False],
    }))
    store.write(user_purchase_activity, pd.DataFrame({
        "user_id": [1], "event_timestamp": [now - timedelta(hours=2)], "created_timestamp": [now],
        "purchases_7d": [3], "spend_7d": [30.5], "purchases_30d": [4], "spend_30d": [40.0],
        "avg_order_value_30d": [10.0],
    }))
    return now


def columns(body: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    names = body["metadata"]["feature_names"]
    return dict(zip(names, body["results"], strict=True))


def test_get_online_features_by_features_and_by_service(redis_url: str, start_server: Start) -> None:
    store = RedisOnlineStore(redis_url, cache=L1Cache())
    now = publish(store)
    server = start_server(create_app(default_registry(), store))
    body = httpx.post(f"{server.url}/get-online-features", json={
        "entities": {"user_id": [1, 2, 3]},
        "features": ["user_profile:country", "user_purchase_activity:spend_7d"],
    }).json()
    result = columns(body)
    assert list(result) == ["user_id", "country", "spend_7d"]
    assert result["user_id"]["values"] == [1, 2, 3]
    assert result["country"]["values"] == ["US", "FR", None]
    assert result["country"]["statuses"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert result["spend_7d"]["values"] == [30.5, None, None]
    assert result["spend_7d"]["event_timestamps"][0] == (now - timedelta(hours=2)).isoformat()
    service = httpx.post(f"{server.url}/get-online-features", json={
        "entities": [{"user_id": 1}], "feature_service": "churn_model_v1", "full_feature_names": True,
    })
    assert service.status_code == 200
    result = columns(service.json())
    assert result["user_profile__plan"]["values"] == ["pro"]
    assert result["user_purchase_activity__purchases_30d"]["values"] == [4]
    assert result["user_session_activity__page_views_1h"]["statuses"] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        ({"entities": {"user_id": [1]}, "features": ["user_profile:nope"]}, 404, "user_profile:nope"),
        ({"entities": {"user_id": [1]}, "features": ["nope:country"]}, 404, "'nope'"),
        ({"entities": {"user_id": [1]}, "feature_service": "nope"}, 404, "'nope'"),
        ({"entities": {"customer": [1]}, "features": ["user_profile:country"]}, 422, "'user_id'"),
        ({"entities": {"user_id": ["abc"]}, "features": ["user_profile:country"]}, 422, "'user_id'"),
        ({"entities": {"user_id": [1]}}, 400, "features"),
        ({"features": ["user_profile:country"]}, 400, "entities"),
        ({"entities": {"user_id": [1], "x": [1, 2]}, "features": ["user_profile:country"]}, 400, "lengths"),
        ({"entities": {"user_id": [1]}, "features": "user_profile:country"}, 400, "features: Input should be a valid array"),
        ({"entities": {"user_id": [[1]]}, "features": ["user_profile:country"]}, 400, "entities.user_id.0: "),
        ({"entities": [{"user_id": 1}, 2], "features": ["user_profile:country"]}, 400, "entities.1: "),
        ({"entities": {"user_id": [1]}, "features": ["user_profile:country"], "full_feature_names": "yes"}, 400,
         "full_feature_names: "),
        ({"entities": {"user_id": [1]}, "features": ["user_profile:country"], "extra": 1}, 400, "extra"),
        ({"entities": {"user_id": [1]}, "features": ["country"]}, 400, "view:feature"),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(
    redis_url: str, start_server: Start, payload: dict[str, Any], status: int, needle: str
) -> None:
    server = start_server(create_app(default_registry(), RedisOnlineStore(redis_url)))
    response = httpx.post(f"{server.url}/get-online-features", json=payload)
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]


def test_malformed_json_and_too_many_entities(redis_url: str, start_server: Start) -> None:
    server = start_server(create_app(default_registry(), RedisOnlineStore(redis_url), max_entities=2))
    response = httpx.post(f"{server.url}/get-online-features", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["detail"]
    response = httpx.post(f"{server.url}/get-online-features", json={
        "entities": {"user_id": [1, 2, 3]}, "features": ["user_profile:country"]})
    assert response.status_code == 400 and "limit is 2" in response.json()["detail"]


def test_redis_down_gives_503_and_the_server_stays_up(private_redis: RedisServer, start_server: Start) -> None:
    store = RedisOnlineStore(private_redis.url, socket_timeout=1.0, socket_connect_timeout=0.5)
    publish(store)
    server = start_server(create_app(default_registry(), store))
    request = {"entities": {"user_id": [1]}, "features": ["user_profile:country"]}
    assert httpx.post(f"{server.url}/get-online-features", json=request).status_code == 200
    private_redis.stop()
    down = httpx.post(f"{server.url}/get-online-features", json=request)
    assert down.status_code == 503
    assert f"127.0.0.1:{private_redis.port}" in down.json()["detail"]
    assert httpx.get(f"{server.url}/health").status_code == 503
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'feature_server_redis_errors_total{kind="unavailable"} 2.0' in metrics
    private_redis.start()
    publish(store, country="BR")
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    again = httpx.post(f"{server.url}/get-online-features", json=request)
    assert columns(again.json())["country"]["values"] == ["BR"]


def test_metrics_expose_latency_and_cache_hit_ratio(redis_url: str, start_server: Start) -> None:
    cache = L1Cache()
    store = RedisOnlineStore(redis_url, cache=cache)
    publish(store)
    server = start_server(create_app(default_registry(), store))
    request = {"entities": {"user_id": [1]}, "features": ["user_profile:country"]}
    for _ in range(4):
        assert httpx.post(f"{server.url}/get-online-features", json=request).status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'feature_server_request_duration_seconds_count{endpoint="get-online-features",status="200"} 4.0' in metrics
    assert "feature_server_cache_hit_ratio 0.75" in metrics
    assert "feature_server_cache_hits_total 3.0" in metrics
    hot = httpx.get(f"{server.url}/hot-keys").json()["hot_keys"]
    assert hot == [{"tenant": "default", "view": "user_profile", "entity": [1], "count": 4}]


def test_tenants_are_isolated_and_rate_limited_separately(redis_url: str, start_server: Start) -> None:
    routing = TenantRouting.from_config({"acme": "prefix", "globex": {"database": 2}})
    store = RedisOnlineStore(redis_url, "acme", tenants=routing)
    publish(store, country="AC")
    publish(store.for_tenant("globex"), country="GL")
    # A frozen clock: no token comes back between the requests, however slow the machine.
    limiter = TenantRateLimiter(per_tenant={"acme": 2}, clock=lambda: 0.0)
    server = start_server(create_app(default_registry(), store, rate_limiter=limiter))
    request = {"entities": {"user_id": [1]}, "features": ["user_profile:country"]}

    def country(tenant: str) -> httpx.Response:
        return httpx.post(f"{server.url}/get-online-features", json=request, headers={"X-Tenant": tenant})

    first = [country("acme") for _ in range(3)]
    assert [r.status_code for r in first] == [200, 200, 429]
    assert "'acme'" in first[2].json()["detail"]
    assert columns(first[0].json())["country"]["values"] == ["AC"]
    assert [columns(country("globex").json())["country"]["values"] for _ in range(3)] == [["GL"]] * 3
    assert country("mallory").status_code == 403
    assert 'feature_server_rate_limited_total{tenant="acme"} 1.0' in httpx.get(f"{server.url}/metrics").text


def test_serve_answers_every_configured_tenant_with_its_routing_and_rate_limit(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "feature_platform.yaml"
    config.write_text(
        f"data_dir: data\nredis_url: {redis_url}\ntenant: acme\nserver:\n  port: {port}\n"
        "tenants:\n  globex: {database: 2, rate_limit: 0.05}\n  initech: {}\n"
    )
    routing = TenantRouting.from_config({"globex": {"database": 2}})
    publish(RedisOnlineStore(redis_url, "acme"), country="AC")
    publish(RedisOnlineStore(redis_url, "globex", tenants=routing), country="GL")
    env = {**os.environ, "FEATURE_PLATFORM_CONFIG": str(config)}
    process = subprocess.Popen([sys.executable, "-m", "feature_platform", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}

        def country(tenant: str | None) -> httpx.Response:
            headers = {"X-Tenant": tenant} if tenant else {}
            return httpx.post(f"http://127.0.0.1:{port}/get-online-features", headers=headers,
                              json={"entities": {"user_id": [1]}, "features": ["user_profile:country"]})

        assert columns(country(None).json())["country"]["values"] == ["AC"]  # the default tenant
        assert columns(country("globex").json())["country"]["values"] == ["GL"]  # from database 2
        assert country("globex").status_code == 429  # its own limit: 1 request per 20 s
        assert columns(country("initech").json())["country"]["values"] == [None]  # served, no data
        assert country("mallory").status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=10)


class Delegating(OnlineStore):
    """Another OnlineStore implementation (here over Redis): the server must serve it through
    the interface alone, with no knowledge of the concrete class."""

    def __init__(self, inner: OnlineStore) -> None:
        self.inner, self.tenant, self.cache = inner, inner.tenant, inner.cache

    def publish(self, view: Any, rows: Any, *, now: Any = None, progress: Any = None) -> Any:
        return self.inner.publish(view, rows, now=now, progress=progress)

    def read(self, requests: Any, entity_rows: Any, *, now: Any = None, full_feature_names: bool = False) -> Any:
        return self.inner.read(requests, entity_rows, now=now, full_feature_names=full_feature_names)

    def iter_entities(self, view: Any, *, include_expired: bool = False, now: Any = None) -> Any:
        return self.inner.iter_entities(view, include_expired=include_expired, now=now)

    def delete_entities(self, view: Any, keys: Any) -> int:
        return self.inner.delete_entities(view, keys)

    def cleanup(self, view: Any, now: Any = None, existing_keys: Any = None) -> Any:
        return self.inner.cleanup(view, now, existing_keys)

    def write_marker(self, view: Any, marker: Any) -> None:
        self.inner.write_marker(view, marker)

    def read_marker(self, view: Any) -> Any:
        return self.inner.read_marker(view)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()

    def for_tenant(self, tenant: str) -> OnlineStore:
        return Delegating(self.inner.for_tenant(tenant))

    def served_tenants(self) -> frozenset[str]:
        return self.inner.served_tenants()


def test_the_server_serves_any_online_store_through_its_interface(redis_url: str, start_server: Start) -> None:
    routing = TenantRouting.from_config({"globex": "prefix"})
    inner = RedisOnlineStore(redis_url, "acme", tenants=routing, cache=L1Cache())
    publish(inner.for_tenant("globex"), country="GL")
    server = start_server(create_app(default_registry(), Delegating(inner)))
    request = {"entities": {"user_id": [1]}, "features": ["user_profile:country"]}
    answer = httpx.post(f"{server.url}/get-online-features", json=request, headers={"X-Tenant": "globex"})
    assert answer.status_code == 200 and columns(answer.json())["country"]["values"] == ["GL"]
    assert "/push" not in httpx.get(f"{server.url}/openapi.json").json()["paths"]  # this store hosts no event logs
    assert "feature_server_cache_hit_ratio" in httpx.get(f"{server.url}/metrics").text  # the cache is seen


def test_sdk_and_http_agree_on_non_finite_values(redis_url: str, start_server: Start) -> None:
    store = RedisOnlineStore(redis_url)
    now = now_utc()
    store.write(user_purchase_activity, pd.DataFrame({
        "user_id": [1, 2], "event_timestamp": [now - timedelta(hours=1)] * 2, "created_timestamp": [now] * 2,
        # (In a pandas frame NaN means null.)
        "purchases_7d": [1, 2], "spend_7d": [float("inf"), float("nan")], "purchases_30d": [1, 2],
        "spend_30d": [-float("inf"), 1.0], "avg_order_value_30d": [1.0, 2.0],
    }))
    features = ["user_purchase_activity:spend_7d", "user_purchase_activity:spend_30d"]
    sdk = store.read(default_registry().resolve(features), [{"user_id": 1}, {"user_id": 2}])
    server = start_server(create_app(default_registry(), store))
    http = columns(httpx.post(f"{server.url}/get-online-features",
                              json={"entities": {"user_id": [1, 2]}, "features": features}).json())
    for name in ("spend_7d", "spend_30d"):
        values, _, statuses = sdk.column(name)
        assert http[name]["statuses"] == [s.value for s in statuses] == ["PRESENT", "PRESENT"]
        assert [None if v is None else float(v) for v in http[name]["values"]] == values
    assert http["spend_7d"]["values"] == ["Infinity", None] and http["spend_30d"]["values"] == ["-Infinity", 1.0]
