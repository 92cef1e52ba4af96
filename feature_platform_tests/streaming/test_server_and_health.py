"""POST /push answers (real server, real Redis), stream health and the scaling advice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from feature_platform.online import RedisOnlineStore
from feature_platform.serving.rate_limit import TenantRateLimiter
from feature_platform.serving.server import create_app
from feature_platform.settings import Settings
from feature_platform.specs import Registry
from feature_platform.streaming.health import (
    PartitionHealth,
    SourceHealth,
    read_stream_health,
    scaling_advice,
)
from feature_platform.streaming.processor import ProcessorOptions, run_processor
from feature_platform.streaming.push import StreamLog, TenantLogs
from feature_platform_tests.serving.conftest import RunningServer
from feature_platform_tests.streaming.repo import clicks, user_clicks


def rows(n: int, user: int = 1) -> list[dict[str, Any]]:
    at = datetime.now(UTC).isoformat()
    return [{"user_id": user, "event_timestamp": at, "page": "home", "amount": 1.5, "items": 1} for _ in range(n)]


def test_push_endpoint_answers(redis_url: str) -> None:
    small = replace(clicks, max_lag=5)
    view = replace(user_clicks, source=small)
    # A stopped clock: the bucket of 20 events never refills during the test.
    logs = TenantLogs(redis_url, rate_limiter=TenantRateLimiter(per_tenant={"default": 20}, clock=lambda: 0.0))
    server = RunningServer(create_app(Registry([view]), RedisOnlineStore(redis_url), stream_logs=logs)).start()
    try:
        answers(server, redis_url, small)
    finally:
        server.stop()
        logs.close()


def answers(server: RunningServer, redis_url: str, small: Any) -> None:
    push = lambda body: httpx.post(f"{server.url}/push", json=body, timeout=10)
    ok = push({"source": "clicks", "rows": rows(3)})
    assert ok.status_code == 200 and ok.json()["accepted"] == 3
    bad = push({"source": "clicks", "rows": [*rows(1), {**rows(1)[0], "items": "many"}]})
    assert bad.status_code == 422
    assert bad.json()["row"] == 1 and bad.json()["column"] == "items" and "nothing appended" in bad.json()["detail"]
    assert push({"source": "views", "rows": rows(1)}).json()["error"] == "unknown_source"
    assert push({"source": "clicks", "rows": "x"}).status_code == 400
    # The partition of user 1 holds 3 unprocessed events; 3 more go above max_lag 5 ...
    assert push({"source": "clicks", "rows": rows(3)}).status_code == 200
    behind = push({"source": "clicks", "rows": rows(1)})
    assert behind.status_code == 429 and behind.json()["error"] == "backpressure"
    assert int(behind.headers["Retry-After"]) >= 1 and behind.json()["lag"] == 6
    # ... and 7 of the tenant's 20 tokens are spent (refused pushes are charged too).
    limited = push({"source": "clicks", "rows": rows(15, user=2)})
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert float(limited.json()["retry_after"]) > 0 and "Retry-After" in limited.headers
    assert 'feature_server_rate_limited_total{tenant="default"} 2.0' in httpx.get(f"{server.url}/metrics").text
    log = StreamLog(redis_url)
    assert sum(log.lengths(small).values()) == 6  # refused pushes appended nothing
    log.close()


def test_health_reports_lag_owner_and_counters(stream_settings: Settings) -> None:
    log = StreamLog(stream_settings.redis_url)
    now = datetime.now(UTC)
    log.push(clicks, [{"user_id": u, "event_timestamp": now, "page": "p", "amount": 1.0, "items": 1} for u in range(20)])
    log.push(clicks, [{"user_id": 1, "event_timestamp": now - timedelta(hours=1), "page": "p", "amount": 1.0, "items": 1}])
    before = read_stream_health(stream_settings.redis_url, "default", [clicks])[0]
    assert sum(p.lag for p in before.partitions) == 21 and all(p.owner is None for p in before.partitions)
    run_processor(stream_settings, [user_clicks], until_idle=True, options=ProcessorOptions(lease_ttl_ms=2000, block_ms=20))
    after = read_stream_health(stream_settings.redis_url, "default", [clicks])[0]
    assert after.dead_letters == 1
    assert sum(p.events for p in after.partitions) == 21 and sum(p.dead_lettered for p in after.partitions) == 1
    assert all(p.lag == 0 and p.backlog == 0 for p in after.partitions)
    assert all(p.owner is None for p in after.partitions)  # a stopped processor gives its leases back
    touched = [p for p in after.partitions if p.events]
    assert all(p.watermark is not None and p.max_event_time is not None for p in touched)
    log.close()


def part(label: str, owner: str | None, lag: int) -> PartitionHealth:
    source, partition = label.split(":")
    return PartitionHealth(source, int(partition), lag, lag, 0, 0, 0, 0, {}, None, None, None, 0.0, owner, None, owner is not None)


def test_scaling_advice_counts_partitions_worth_of_processors() -> None:
    t0 = datetime(2026, 11, 26, 12, tzinfo=UTC)
    health = [SourceHealth("s", [part("s:0", "a", 900), part("s:1", "a", 900), part("s:2", "a", 10), part("s:3", "b", 900)], 0)]
    first = scaling_advice(health, lag_threshold=500, sustained_for=timedelta(minutes=5), now=t0)
    assert first.add_processors == 0 and first.lagging == []  # not sustained yet
    later = scaling_advice(health, lag_threshold=500, sustained_for=timedelta(minutes=5), now=t0 + timedelta(minutes=6), high_since=first.high_since)
    # "a" owns 3 partitions, 2 lagging: both can move to new processors; "b" lags alone.
    assert later.add_processors == 2 and later.lagging == ["s:0", "s:1", "s:3"] and later.needs_more_partitions
    orphan = [SourceHealth("s", [part("s:0", None, 900)], 0)]
    assert scaling_advice(orphan, lag_threshold=500, sustained_for=timedelta(0), now=t0).add_processors == 1
