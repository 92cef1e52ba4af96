"""The processor as real processes on real Redis: kill -9 and restart, two processors for
the same partitions, Redis going down and coming back, and overload."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from feature_platform.errors import OnlineStoreUnavailableError
from feature_platform.online import RedisOnlineStore
from feature_platform.online.keys import StreamKeys
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.serving.server import create_app
from feature_platform.settings import Settings
from feature_platform.streaming.errors import BackpressureError
from feature_platform.streaming.health import read_stream_health
from feature_platform.streaming.landing import read_landed_events
from feature_platform.streaming.log import CONSUMER_GROUP
from feature_platform.streaming.offline import aggregate_at
from feature_platform.streaming.push import StreamLog
from feature_platform_tests.redis_server import RedisServer
from feature_platform_tests.serving.conftest import RunningServer
from feature_platform_tests.streaming.conftest import Spawn
from feature_platform_tests.streaming.helpers import burst, click, totals
from feature_platform_tests.streaming.repo import (
    clicks,
    hot_clicks,
    overload_registry,
    registry,
    user_clicks,
)

FAST_LEASE = ("--lease-ttl-ms", "1500")


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def pending_entries(client: redis.Redis, tenant: str = "default") -> int:
    keys = StreamKeys(tenant, clicks.name)
    total = 0
    for p in range(clicks.partitions):
        try:
            total += int(client.xpending(keys.log(p), CONSUMER_GROUP)["pending"])
        except redis.ResponseError:
            pass
    return total


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out + err


def assert_online_equals_recomputation(settings: Settings, rows: list[dict[str, Any]]) -> None:
    """Every pushed event landed once, and every online aggregate equals its recomputation."""
    landed = read_landed_events(settings.offline_dir, settings.tenant, clicks)
    assert landed.num_rows == len(rows)
    pushed = sorted(((r["user_id"], r["event_timestamp"], r["page"], r["amount"]) for r in rows), key=repr)
    got = sorted(zip(*(landed.column(c).to_pylist() for c in ("user_id", "event_timestamp", "page", "amount")), strict=True), key=repr)
    assert got == pushed
    users = sorted({r["user_id"] for r in rows})
    at = datetime.now(UTC)
    store = FeatureStore(settings, registry=registry())
    names = [f.name for f in user_clicks.aggregated_features]
    online = store.get_online_features([{"user_id": u} for u in users], [f"user_clicks:{n}" for n in names], now=at).to_dict()
    expected = aggregate_at(landed, user_clicks, [((u,), at) for u in users], names, inclusive=True)
    for name in names:
        assert online[name] == expected[name], name
    store.close()


def test_kill_9_mid_batch_then_restart_counts_every_event_exactly_once(
    stream_settings: Settings, redis_client: redis.Redis, spawn_processor: Spawn
) -> None:
    rows = burst(datetime.now(UTC), 12_000, 60, seed=11)
    log = StreamLog(stream_settings.redis_url)
    for start in range(0, len(rows), 2000):
        log.push(clicks, rows[start : start + 2000])
    log.close()
    crashes = 0
    for _ in range(6):
        proc = spawn_processor(stream_settings, "--batch-size", "400", *FAST_LEASE)
        done = totals(redis_client).get("events", 0)
        wait_for(
            lambda done=done, proc=proc: totals(redis_client).get("events", 0) > done + 400 or proc.poll() is not None,
            60,
            "progress",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if pending_entries(redis_client):
            crashes += 1  # killed between reading a batch and acknowledging it
        if crashes >= 2 or totals(redis_client).get("events", 0) >= len(rows):
            break
    assert crashes >= 1, "no kill landed mid-batch"
    assert totals(redis_client).get("events", 0) < len(rows)
    finish(spawn_processor(stream_settings, "--until-idle", *FAST_LEASE))
    assert totals(redis_client) == {"events": len(rows), "late": 0, "replayed": 0}
    assert pending_entries(redis_client) == 0
    assert_online_equals_recomputation(stream_settings, rows)


def test_two_processors_for_the_same_partitions_never_both_write(
    stream_settings: Settings, redis_client: redis.Redis, spawn_processor: Spawn
) -> None:
    # A lease of 5 s: long enough that a busy machine never lets it lapse under a live owner.
    lease = ("--lease-ttl-ms", "5000")
    first = spawn_processor(stream_settings, *lease)
    health = lambda: read_stream_health(stream_settings.redis_url, "default", [clicks])[0].partitions
    wait_for(lambda: all(p.owner for p in health()), 30, "the first processor to own every partition")
    owner = health()[0].owner
    second = spawn_processor(stream_settings, *lease)
    log = StreamLog(stream_settings.redis_url)
    rows = burst(datetime.now(UTC), 4000, 40, seed=5)
    for start in range(0, len(rows), 200):
        log.push(clicks, rows[start : start + 200])
        time.sleep(0.01)
    wait_for(lambda: totals(redis_client).get("events", 0) == len(rows), 60, "the first processor to apply the burst")
    # The second one waited: every lease still names the first, which did all the work.
    assert {p.owner for p in health()} == {owner}
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    more = burst(datetime.now(UTC), 1000, 40, seed=6, spread=timedelta(seconds=30))
    log.push(clicks, more)
    wait_for(lambda: totals(redis_client).get("events", 0) == len(rows) + len(more), 60, "the second processor to take over")
    assert {p.owner for p in health()} - {owner}
    second.send_signal(signal.SIGTERM)
    assert "processed 1000 event(s): 1000 applied" in finish(second)
    assert totals(redis_client)["events"] == len(rows) + len(more)
    log.close()
    assert_online_equals_recomputation(stream_settings, rows + more)


def test_redis_down_push_503_and_transient_error_processor_resumes_without_loss(
    tmp_path: Path, spawn_processor: Spawn
) -> None:
    server = RedisServer(tmp_path / "redis", ["--appendonly", "yes", "--appendfsync", "always"]).start()
    settings = Settings(data_dir=tmp_path / "data", redis_url=server.url, registry="feature_platform_tests.streaming.repo:registry")
    http = RunningServer(create_app(registry(), RedisOnlineStore(server.url))).start()
    try:
        rows = burst(datetime.now(UTC), 3000, 30, seed=3)
        body = {"source": "clicks", "rows": [{**r, "event_timestamp": r["event_timestamp"].isoformat()} for r in rows[:1500]]}
        assert httpx.post(f"{http.url}/push", json=body, timeout=30).json()["accepted"] == 1500
        proc = spawn_processor(settings, "--batch-size", "100", *FAST_LEASE)
        client = server.client()
        wait_for(lambda: totals(client).get("events", 0) > 0, 30, "processing to start")
        client.close()
        server.stop()
        answer = httpx.post(f"{http.url}/push", json=body, timeout=30)
        assert answer.status_code == 503 and answer.json()["error"] == "stream_unavailable"
        store = FeatureStore(settings, registry=registry())
        with pytest.raises(OnlineStoreUnavailableError):
            store.push("clicks", rows[1500:])
        time.sleep(1.5)  # the processor keeps retrying with backoff
        assert proc.poll() is None
        server.start()
        store.push("clicks", rows[1500:])
        store.close()
        client = server.client()
        wait_for(lambda: totals(client).get("events", 0) == len(rows), 60, "the processor to resume")
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert "Redis unavailable" in finish(proc)
        assert_online_equals_recomputation(settings, rows)
    finally:
        http.stop()
        server.stop()


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_overload_gets_429s_memory_stays_flat_and_every_event_is_accounted_for(
    stream_settings: Settings, redis_client: redis.Redis, spawn_processor: Spawn
) -> None:
    settings = stream_settings.with_overrides(registry="feature_platform_tests.streaming.repo:overload_registry")
    proc = spawn_processor(settings, "--batch-size", "200", *FAST_LEASE)
    log = StreamLog(settings.redis_url)
    keys = StreamKeys("default", hot_clicks.name)
    wait_for(lambda: all(redis_client.exists(keys.lease(p)) for p in range(hot_clicks.partitions)), 30, "leases")
    accepted = refused = 0
    peaks = []
    started = time.monotonic()
    now = datetime.now(UTC)
    while time.monotonic() - started < 8:
        try:
            accepted += log.push(hot_clicks, [click(i % 50, now, "p", 1.0, 1) for i in range(500)]).accepted
        except BackpressureError as exc:
            refused += 1
            assert exc.retry_after > 0 and exc.lag > hot_clicks.max_lag
        peaks.append(vm_hwm_mb(proc.pid))
    log.close()
    assert refused > 0, "the producer was never pushed back"
    lengths = [redis_client.xlen(keys.log(p)) for p in range(hot_clicks.partitions)]
    assert max(lengths) <= hot_clicks.max_lag + 500  # one push may land on a partition at max_lag
    wait_for(lambda: sum(redis_client.xlen(keys.log(p)) for p in range(hot_clicks.partitions)) == 0, 60, "the backlog to drain")
    # Flat memory: the peak after the first second of overload hardly grows after it.
    assert peaks[-1] - peaks[len(peaks) // 8] < 60, peaks
    assert peaks[-1] < 600
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    counts: dict[str, int] = {}
    for p in range(hot_clicks.partitions):
        progress: dict[bytes, bytes] = redis_client.hgetall(keys.progress(p))  # type: ignore[assignment]
        for k, v in progress.items():
            if k in (b"events", b"late", b"shed:hot_user_clicks"):
                counts[k.decode()] = counts.get(k.decode(), 0) + int(v)
    assert counts["events"] == accepted
    assert counts["shed:hot_user_clicks"] > 0
    store = FeatureStore(settings, registry=overload_registry())
    applied = sum(
        store.get_online_features([{"user_id": u} for u in range(50)], ["hot_user_clicks:page_count_10m"]).to_dict()["page_count_10m"]
    )
    store.close()
    assert accepted == applied + counts.get("late", 0) + counts["shed:hot_user_clicks"]

