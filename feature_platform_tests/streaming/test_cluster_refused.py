"""The real-time path on a Redis Cluster: refused with what to do, never a half-working push."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from feature_platform.errors import ConfigError
from feature_platform.online import RedisOnlineStore
from feature_platform.serving.server import create_app
from feature_platform.specs import Registry
from feature_platform.streaming.dead_letters import replay_dead_letters
from feature_platform.streaming.errors import StreamOnClusterError
from feature_platform.streaming.processor import StreamProcessor
from feature_platform.streaming.push import StreamLog, TenantLogs
from feature_platform_tests.serving.conftest import RunningServer
from feature_platform_tests.streaming.repo import clicks, user_clicks

ADVICE = "runs on a single Redis, not on the Redis Cluster at"


def test_push_processor_and_replay_refuse_a_cluster_url_and_say_what_to_use(cluster_url: str, tmp_path: Path) -> None:
    with pytest.raises(StreamOnClusterError, match=ADVICE) as refused:
        StreamLog(cluster_url)
    assert isinstance(refused.value, ConfigError) and "redis://" in str(refused.value)
    with pytest.raises(StreamOnClusterError, match=ADVICE):
        StreamProcessor(cluster_url, "default", [user_clicks], tmp_path)
    with pytest.raises(StreamOnClusterError, match=ADVICE):
        replay_dead_letters(cluster_url, "default", clicks)


def test_push_to_a_tenant_on_a_cluster_answers_501_while_reads_keep_working(cluster_url: str) -> None:
    logs = TenantLogs(cluster_url)
    server = RunningServer(create_app(Registry([user_clicks]), RedisOnlineStore(cluster_url), stream_logs=logs)).start()
    try:
        row = {"user_id": 1, "event_timestamp": datetime.now(UTC).isoformat(), "page": "home", "amount": 1.5, "items": 1}
        push = httpx.post(f"{server.url}/push", json={"source": "clicks", "rows": [row]}, timeout=10)
        assert push.status_code == 501
        assert push.json()["error"] == "push_not_supported" and ADVICE in push.json()["detail"]
        read = httpx.post(
            f"{server.url}/get-online-features",
            json={"entities": {"user_id": [1]}, "features": ["user_clicks:page", "user_clicks:page_count_5m"]}, timeout=10,
        )
        assert read.status_code == 200
    finally:
        server.stop()
        logs.close()
