"""Key spreading of hot keys on a real Redis Cluster: copies on other masters, reads shared
evenly, writes keep every copy consistent, copies never leak into scans, cleanup or reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pandas as pd
import pytest
import redis
from redis.crc import key_slot

from feature_platform.errors import ConfigError
from feature_platform.online import RedisOnlineStore
from feature_platform.online.codec import decode_values
from feature_platform.online.keys import copy_key, hot_registry_key
from feature_platform.specs import ViewRequest
from feature_platform_tests.online.conftest import SCORES, now_utc
from feature_platform_tests.redis_cluster import RedisCluster

READS = 1500


BASE = now_utc() - timedelta(minutes=10)


def rows(ids: list[int], count: int) -> pd.DataFrame:
    """SCORES rows of version ``count``: a larger count is a later event, however slow the test."""
    event = BASE + timedelta(seconds=count)
    n = len(ids)
    return pd.DataFrame({
        "user_id": ids, "event_timestamp": [event] * n, "created_timestamp": [event] * n, "score": [1.0] * n,
        "count": [count] * n, "label": ["x"] * n, "flag": [True] * n, "seen_at": [event] * n,
    })


def count_of(store: RedisOnlineStore, user_id: int) -> object:
    return store.read([ViewRequest(SCORES, ("count",))], [{"user_id": user_id}]).to_dict()["count"][0]


@pytest.fixture
def store(cluster_url: str) -> Iterator[RedisOnlineStore]:
    instance = RedisOnlineStore(cluster_url, "hot", spread_refresh_s=0.0)
    instance.write(SCORES, rows(list(range(50)), 1))
    yield instance
    instance.close()


def test_reads_of_a_spread_key_land_evenly_on_its_copies(redis_cluster: RedisCluster, store: RedisOnlineStore) -> None:
    assert store.spread(SCORES, [{"user_id": 7}], copies=3) == 1
    key = store.view_keys(SCORES).key([7])
    copies = [key, *(copy_key(key, n) for n in registry_numbers(store, key))]
    masters = {store.transport.master_of(k) for k in copies}
    assert len(copies) == 3 and len(masters) == 3  # one copy per master of the 3
    before = hmget_calls(redis_cluster)
    for _ in range(READS):
        assert count_of(store, 7) == 1
    after = hmget_calls(redis_cluster)
    per_master = [after[m] - before[m] for m in masters]
    assert sum(per_master) == READS
    assert all(abs(n - READS / 3) <= 0.2 * READS / 3 for n in per_master), per_master


def test_writes_keep_every_copy_consistent_and_copies_stay_invisible(
    cluster_url: str, store: RedisOnlineStore
) -> None:
    store.spread(SCORES, [{"user_id": 3}, {"user_id": 4}], copies=3)
    store.write(SCORES, rows([3, 4, 5], 2))
    raw = redis.RedisCluster.from_url(cluster_url.replace("redis+cluster", "redis"))
    for user in (3, 4):
        key = store.view_keys(SCORES).key([user])
        for copy in [key, *(copy_key(key, n) for n in registry_numbers(store, key))]:
            assert decode_values(raw.hget(copy, "v"))["count"] == 2
            assert abs(raw.pttl(copy) - raw.pttl(key)) < 1000
    assert store.write(SCORES, rows([3], 1)).written == 0  # older: no copy moves back either
    assert {count_of(store, 3) for _ in range(30)} == {2}

    entities = sorted(e[0]["user_id"] for e in store.iter_entities(SCORES))
    assert entities == list(range(50))  # copies are not entities
    # A copy that went missing (evicted, say) is read from the key itself: never NOT_FOUND.
    key3 = store.view_keys(SCORES).key([3])
    for n in registry_numbers(store, key3):
        raw.delete(copy_key(key3, n))
    assert {count_of(store, 3) for _ in range(30)} == {2}

    result = store.cleanup(SCORES, existing_keys=[{"user_id": i} for i in range(50) if i != 4])
    assert result.removed_gone == 1 and result.scanned == 50
    key4 = store.view_keys(SCORES).key([4])
    assert raw.exists(key4, *(copy_key(key4, n) for n in registry_numbers(store, key4))) == 0
    assert count_of(store, 4) is None

    assert store.unspread(SCORES, [{"user_id": 3}, {"user_id": 4}]) == 2
    assert raw.hlen(hot_registry_key("hot")) == 0
    assert raw.keys(b"fs:hot:scores:{*.*}*") == []
    raw.close()
    with pytest.raises(ConfigError, match="copies"):
        store.spread(SCORES, [{"user_id": 1}], copies=1)


def registry_numbers(store: RedisOnlineStore, key: bytes) -> list[int]:
    import msgpack

    raw = store.transport.execute([("HGET", hot_registry_key(store.tenant), key)], "test")[0]
    return list(msgpack.unpackb(raw))


def hmget_calls(cluster: RedisCluster) -> dict[str, int]:
    """HMGET calls served so far by each master, by ``host:port``."""
    calls = {}
    for node in cluster.masters_now():
        client = node.client()
        calls[f"127.0.0.1:{node.port}"] = int(client.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))
        client.close()
    return calls


def test_copy_keys_hash_to_their_own_slot() -> None:
    key = b"fs:t:v:{12}\x07"
    assert copy_key(key, 2) == b"fs:t:v:{12.2}\x07"
    assert key_slot(copy_key(key, 2)) == key_slot(b"{12.2}") != key_slot(key)
