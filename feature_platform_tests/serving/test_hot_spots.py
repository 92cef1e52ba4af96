"""Hot entities on a real Redis Cluster: hot-shard detection in /metrics, replica reads per tier."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from redis.crc import key_slot

from feature_platform.errors import ConfigError
from feature_platform.feature_repo import default_registry
from feature_platform.feature_repo.views import user_profile
from feature_platform.online import L1Cache, RedisOnlineStore
from feature_platform.online.hotspots import ShardLoad, assess_shards
from feature_platform.serving.server import create_app
from feature_platform.specs import FreshnessTier, ViewRequest
from feature_platform_tests.online.conftest import PAIRS, SCORES
from feature_platform_tests.redis_cluster import RedisCluster
from feature_platform_tests.serving.conftest import RunningServer
from feature_platform_tests.serving.test_server import publish

Start = Callable[[Any], RunningServer]


def test_a_shard_over_twice_its_share_of_a_busy_cluster_is_hot() -> None:
    even = [ShardLoad("a", 1000), ShardLoad("b", 900), ShardLoad("c", 1100)]
    assert not assess_shards(even).hot
    skewed = [ShardLoad("a", 5000), ShardLoad("b", 300), ShardLoad("c", 200)]
    assessment = assess_shards(skewed)
    assert assessment.hot and assessment.priority == "P3"
    assert "shard a takes 91%" in assessment.message and assessment.imbalance > 2.5
    assert not assess_shards([ShardLoad("a", 50), ShardLoad("b", 0), ShardLoad("c", 0)]).hot  # idle
    assert not assess_shards([ShardLoad("single", 9000)]).hot
    with pytest.raises(ConfigError, match="max_share_factor"):
        assess_shards(even, max_share_factor=1.0)


def test_metrics_show_the_hot_shard_and_the_hot_key(cluster_url: str, start_server: Start) -> None:
    cache = L1Cache(max_age_s={FreshnessTier.STATIC: 0})  # every read reaches Redis
    store = RedisOnlineStore(cluster_url, cache=cache)
    publish(store)
    server = start_server(create_app(default_registry(), store))
    hot_node = master_of(store, store.view_keys(user_profile).key([1]))
    stop = threading.Event()

    def hammer() -> None:
        # 50 reads of the hot user per round trip: thousands of ops/s even on a busy machine.
        request, rows = [ViewRequest(user_profile, ("country",))], [{"user_id": 1}] * 50
        while not stop.is_set():
            store.read(request, rows)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        time.sleep(2.0)  # Redis's ops/s estimate covers the last ~1.6 s
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        stop.set()
        thread.join()
    assert "feature_server_hot_shard 1.0" in metrics
    ops = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("feature_server_shard_ops_per_second{")
    }
    assert len(ops) == 3 and max(ops, key=ops.__getitem__) == hot_node
    assert 'feature_server_hot_key_reads{entity="(1,)",tenant="default",view="user_profile"}' in metrics


def master_of(store: RedisOnlineStore, key: bytes) -> str:
    """``host:port`` of the master that serves ``key``."""
    client = store.transport.client
    assert isinstance(client, redis.RedisCluster)
    return str(client.nodes_manager.get_node_from_slot(key_slot(key)).name)


def test_replica_reads_serve_batch_and_static_views_never_real_time(
    redis_cluster: RedisCluster, cluster_url: str
) -> None:
    store = RedisOnlineStore(cluster_url, "rep", replica_reads=True)
    publish_views(store)
    before = hmget_calls(redis_cluster)
    for _ in range(50):
        store.read([ViewRequest(SCORES, ("count",))], [{"user_id": i} for i in range(20)])  # BATCH
    after_batch = hmget_calls(redis_cluster)
    for _ in range(50):
        response = store.read([ViewRequest(PAIRS, ("stock",))], [{"shop": "s", "item_id": i} for i in range(20)])
        assert response.to_dict()["stock"] == list(range(20))  # REAL_TIME
    after_real_time = hmget_calls(redis_cluster)

    def delta(a: dict[str, dict[int, int]], b: dict[str, dict[int, int]], role: str) -> int:
        return sum(b[role].values()) - sum(a[role].values())

    assert delta(before, after_batch, "slave") == 1000 and delta(before, after_batch, "master") == 0
    assert delta(after_batch, after_real_time, "master") == 1000
    assert delta(after_batch, after_real_time, "slave") == 0
    with pytest.raises(ConfigError, match="replica_reads needs a Redis Cluster"):
        RedisOnlineStore("redis://127.0.0.1:1/0", replica_reads=True)


def publish_views(store: RedisOnlineStore) -> None:
    import pandas as pd

    from feature_platform_tests.online.conftest import now_utc

    now = now_utc()
    ids = list(range(20))
    store.write(SCORES, pd.DataFrame({
        "user_id": ids, "event_timestamp": now, "created_timestamp": now, "score": 1.0, "count": ids,
        "label": "x", "flag": True, "seen_at": now,
    }))
    store.write(PAIRS, pd.DataFrame({
        "shop": "s", "item_id": ids, "event_timestamp": now, "created_timestamp": now, "stock": ids,
    }))


def hmget_calls(cluster: RedisCluster) -> dict[str, dict[int, int]]:
    """HMGET calls served so far, by role (master/slave) and node port."""
    calls: dict[str, dict[int, int]] = {"master": {}, "slave": {}}
    for node in cluster.live_nodes():
        client = node.client()
        try:
            role = client.info("replication")["role"]
            calls[role][node.port] = int(client.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))
        finally:
            client.close()
    return calls


def test_settings_choose_the_cluster_replica_reads_and_the_l2(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from feature_platform.serving.feature_store import FeatureStore
    from feature_platform.settings import load_settings

    monkeypatch.setenv("REDIS_URL", "redis+cluster://127.0.0.1:7000")
    monkeypatch.setenv("FEATURE_PLATFORM_ONLINE_READ__REPLICA_READS", "true")
    monkeypatch.setenv("FEATURE_PLATFORM_ONLINE_READ__L2_URL", "redis://127.0.0.1:7001/0")
    settings = load_settings(data_dir=tmp_path)
    store = FeatureStore(settings).online_store
    assert isinstance(store, RedisOnlineStore) and store.transport.single_slot_calls  # nothing connects yet
    assert store.replica_reads and store.l2 is not None and store.l2.where == "127.0.0.1:7001/0"
