"""rebuild-online: order by tier and priority, resume after a kill, rate adapting to read p99."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import redis

from feature_platform.errors import ConfigError
from feature_platform.feature_repo.views import (
    user_profile,
    user_purchase_activity,
    user_session_activity,
)
from feature_platform.materialization.adaptive_rate import AdaptiveRate
from feature_platform.materialization.consistency import compare_online_offline
from feature_platform.materialization.rebuild import RebuildOptions, rebuild_online, rebuild_order
from feature_platform.offline import OfflineStore
from feature_platform.online import RedisOnlineStore
from feature_platform.specs import FreshnessTier
from feature_platform_tests.redis_server import RedisServer

VIEW = user_purchase_activity
USERS = 2_000


def _offline_with_users(data_dir: Path, users: int = USERS) -> OfflineStore:
    """Two days of ``VIEW`` rows, two per user, the newer one differing (so the newest wins)."""
    store = OfflineStore(data_dir / "offline")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    for offset in (0, 1):
        start = day + timedelta(days=offset)
        ids = list(range(users))
        store.write_partitions(VIEW, start, start + timedelta(days=1), pa.table({
            "user_id": pa.array(ids, pa.int64()),
            "event_timestamp": pa.array([start + timedelta(seconds=i) for i in ids], pa.timestamp("us", "UTC")),
            "created_timestamp": pa.array([start + timedelta(seconds=i + 1) for i in ids], pa.timestamp("us", "UTC")),
            "purchases_7d": pa.array([i % 7 + offset for i in ids], pa.int64()),
            "spend_7d": pa.array([i * 1.5 + offset for i in ids]),
            "purchases_30d": pa.array([i % 30 for i in ids], pa.int64()),
            "spend_30d": pa.array([i * 2.5 for i in ids]),
            "avg_order_value_30d": pa.array([float(offset)] * users),
        }))
    return store


def test_views_rebuild_by_tier_then_priority_then_definition_order() -> None:
    important = dataclasses.replace(user_profile, name="profile_important", tags={"recovery.priority": "1"})
    realtime = dataclasses.replace(user_purchase_activity, name="rt", tier=FreshnessTier.REAL_TIME)
    offline_only = dataclasses.replace(user_purchase_activity, name="offline_only", online=False)
    views = [user_profile, user_purchase_activity, offline_only, important, user_session_activity, realtime]
    assert [v.name for v in rebuild_order(views)] == [
        "rt", "user_session_activity", "user_purchase_activity", "profile_important", "user_profile",
    ]
    with pytest.raises(ConfigError, match="recovery.priority='high' is not an integer"):
        rebuild_order([dataclasses.replace(user_profile, tags={"recovery.priority": "high"})])


def test_killed_rebuild_resumes_without_redoing_finished_ranges(tmp_path: Path, redis_url: str) -> None:
    data_dir = tmp_path / "data"
    offline = _offline_with_users(data_dir)
    env = {
        **os.environ, "FEATURE_PLATFORM_HOME": str(data_dir), "REDIS_URL": redis_url,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    # 10 ranges of 200 entities at 500 rows/s: about 4 s, killed after 3 ranges.
    command = [sys.executable, "-m", "feature_platform", "rebuild-online", "--view", VIEW.name,
               "--range-entities", "200", "--workers", "2", "--max-rate", "500", "--min-rate", "500"]
    progress_file = data_dir / "rebuild" / "default" / f"{VIEW.name}.json"
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    done: list[int] = []
    while len(done) < 3:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        assert time.monotonic() < deadline
        if progress_file.exists():
            done = json.loads(progress_file.read_text())["done"]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()
    finished_before = set(json.loads(progress_file.read_text())["done"])
    assert 3 <= len(finished_before) < 10

    lines: list[str] = []
    with RedisOnlineStore(redis_url) as online:
        result = rebuild_online([VIEW], offline, online, data_dir, options=RebuildOptions(range_entities=200), log=lines.append)
        (view,) = result.views
        assert view.ranges == 10 and set(view.ranges_skipped) == finished_before
        assert set(view.ranges_written) == set(range(10)) - finished_before
        assert f"{len(finished_before)} of 10 ranges already done" in "\n".join(lines)
        assert not progress_file.exists()
        report = compare_online_offline(VIEW, offline, online, now=datetime.now(UTC))
        assert report.checked == USERS and (report.mismatched, report.missing, report.extra) == (0, 0, 0)
        # A rebuild with nothing left to resume starts over and rewrites the same values.
        again = rebuild_online([VIEW], offline, online, data_dir, options=RebuildOptions(range_entities=500))
        assert again.views[0].ranges_skipped == [] and again.views[0].ranges == 4


def test_write_rate_backs_off_while_reads_are_slow_and_recovers(tmp_path: Path) -> None:
    """A real degradation: another client keeps Redis busy (DEBUG SLEEP) during the load."""
    offline = _offline_with_users(tmp_path / "data")
    server = RedisServer(tmp_path / "redis", ["--enable-debug-command", "local"]).start()
    redis_url = server.url
    stop = threading.Event()

    def hog() -> None:
        client = redis.Redis.from_url(redis_url)
        while not stop.is_set():
            client.execute_command("DEBUG", "SLEEP", "0.02")
        client.close()

    options = RebuildOptions(range_entities=100, workers=2, batch_rows=50, max_rows_per_s=2_000,
                             min_rows_per_s=100, max_read_p99_ms=10.0)
    hogger = threading.Thread(target=hog)
    hogger.start()
    try:
        with RedisOnlineStore(redis_url) as online:
            slow = rebuild_online([VIEW], offline, online, tmp_path / "data", options=options)
    finally:
        stop.set()
        hogger.join()
        server.stop()
    assert slow.read_p99_ms is not None and slow.read_p99_ms > 10.0
    assert slow.rate_changes >= 1 and slow.final_rows_per_s < 2_000

    rate = AdaptiveRate(1_000, 100, 0.005)
    rate.observe(0.02)
    rate.observe(0.02)
    assert rate.rows_per_s == 250
    for _ in range(10):
        rate.observe(0.001)
    assert rate.rows_per_s == 1_000
    started = time.monotonic()
    for _ in range(5):
        rate.acquire(100)  # 500 rows at 1,000 rows/s
    assert time.monotonic() - started >= 0.39
