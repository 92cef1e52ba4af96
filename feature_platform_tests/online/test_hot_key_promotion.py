"""Detection drives key spreading, on a real Redis Cluster: a hammered entity is promoted by
the hot-key tracker, another process's reads then land evenly on its copies, and a publish
from a third keeps every copy consistent."""

from __future__ import annotations

import time

import pytest
import redis

from feature_platform.errors import ConfigError
from feature_platform.online import L1Cache, RedisOnlineStore
from feature_platform.online.codec import decode_values
from feature_platform.online.hot_key_promotion import HotKeyPromoter, PromotionPolicy
from feature_platform.online.keys import copy_key, hot_registry_key
from feature_platform.specs import FreshnessTier
from feature_platform_tests.online.conftest import SCORES
from feature_platform_tests.online.test_spreading import (
    count_of,
    hmget_calls,
    registry_numbers,
    rows,
)
from feature_platform_tests.redis_cluster import RedisCluster

READS = 10_000


def test_a_hammered_entity_is_spread_and_reads_then_land_evenly_on_its_copies(
    redis_cluster: RedisCluster, cluster_url: str
) -> None:
    # The serving process: an L1 cache that keeps nothing (every read reaches Redis) but
    # tracks the hot keys, and a promoter on a clock the test moves.
    server_store = RedisOnlineStore(cluster_url, "promo", cache=L1Cache(max_age_s={FreshnessTier.BATCH: 0}))
    server_store.write(SCORES, rows(list(range(50)), 1))
    seconds = [0.0]
    promoter = HotKeyPromoter(
        server_store, {SCORES.name: SCORES}, PromotionPolicy(min_reads_per_s=100, copies=3), clock=lambda: seconds[0]
    )
    for user in range(50):
        count_of(server_store, user)
    assert promoter.promote() == []  # the first pass sees every key for the first time

    for _ in range(300):
        assert count_of(server_store, 7) == 1  # 300 reads in the next second: hot
    for _ in range(50):
        count_of(server_store, 8)  # 50 reads a second: below the threshold
    seconds[0] += 1.0
    promoted = promoter.promote()
    assert [(p.key.view, p.key.entity) for p in promoted] == [("scores", (7,))]
    assert promoted[0].reads_per_s == pytest.approx(300)
    raw = redis.RedisCluster.from_url(cluster_url.replace("redis+cluster", "redis"))
    key = server_store.view_keys(SCORES).key([7])
    assert raw.hkeys(hot_registry_key("promo")) == [key]  # in Redis: every process agrees
    for _ in range(300):
        count_of(server_store, 7)
    seconds[0] += 1.0
    assert promoter.promote() == []  # already spread: not copied again

    # Another process's reader learns the spread from Redis; its reads land on the copies.
    reader = RedisOnlineStore(cluster_url, "promo")
    copies = [key, *(copy_key(key, n) for n in registry_numbers(server_store, key))]
    masters = {server_store.transport.master_of(k) for k in copies}
    assert len(copies) == 3 and len(masters) == 3
    before = hmget_calls(redis_cluster)
    for _ in range(READS):
        assert count_of(reader, 7) == 1
    after = hmget_calls(redis_cluster)
    per_master = [after[m] - before[m] for m in masters]
    assert sum(per_master) == READS
    assert all(abs(n - READS / 3) <= 0.2 * READS / 3 for n in per_master), per_master

    # A third process publishes a newer value: every copy moves with the key.
    writer = RedisOnlineStore(cluster_url, "promo")
    writer.write(SCORES, rows([7, 8], 2))
    for copy in copies:
        assert decode_values(raw.hget(copy, "v"))["count"] == 2
    assert {count_of(reader, 7) for _ in range(60)} == {2}
    assert decode_values(raw.hget(server_store.view_keys(SCORES).key([8]), "v"))["count"] == 2
    for store in (server_store, reader, writer):
        store.close()
    raw.close()


def test_the_promotion_thread_spreads_a_key_while_it_is_hammered(cluster_url: str) -> None:
    store = RedisOnlineStore(cluster_url, "promo", cache=L1Cache(max_age_s={FreshnessTier.BATCH: 0}))
    store.write(SCORES, rows(list(range(10)), 1))
    key = store.view_keys(SCORES).key([3])
    promoter = HotKeyPromoter(store, {SCORES.name: SCORES}, PromotionPolicy(min_reads_per_s=50)).start(interval_s=0.2)
    try:
        deadline = time.monotonic() + 10
        while not store.transport.execute([("HEXISTS", hot_registry_key("promo"), key)], "test")[0]:
            assert time.monotonic() < deadline, "the promotion thread never spread the hammered key"
            count_of(store, 3)
    finally:
        promoter.stop()
    assert store.transport.execute([("HLEN", hot_registry_key("promo"))], "test")[0] == 1
    store.close()


def test_promotion_needs_the_l1_tracker_and_a_sensible_policy(cluster_url: str) -> None:
    with pytest.raises(ConfigError, match="L1 cache"):
        HotKeyPromoter(RedisOnlineStore(cluster_url, "promo"), {SCORES.name: SCORES})
    with pytest.raises(ConfigError, match="copies"):
        PromotionPolicy(copies=1)
    with pytest.raises(ConfigError, match="min_reads_per_s"):
        PromotionPolicy(min_reads_per_s=0)


def test_serve_promotes_only_when_the_settings_say_so(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from feature_platform.settings import load_settings

    assert load_settings(data_dir=tmp_path).online_read.spread_hot_keys_above is None
    monkeypatch.setenv("FEATURE_PLATFORM_ONLINE_READ__SPREAD_HOT_KEYS_ABOVE", "250")
    monkeypatch.setenv("FEATURE_PLATFORM_ONLINE_READ__SPREAD_COPIES", "4")
    reading = load_settings(data_dir=tmp_path).online_read
    assert (reading.spread_hot_keys_above, reading.spread_copies, reading.spread_interval_s) == (250.0, 4, 10.0)
