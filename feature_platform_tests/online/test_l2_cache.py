"""The L2 cache: a separate real Redis between L1 and the store, per-tier max age."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis

from feature_platform.errors import ConfigError
from feature_platform.online import L2Cache, RedisOnlineStore
from feature_platform.online.keys import L2_PREFIX
from feature_platform.specs import FreshnessTier, ViewRequest
from feature_platform_tests.online.conftest import PAIRS, PROFILE, now_utc
from feature_platform_tests.redis_server import RedisServer


@pytest.fixture
def l2_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "l2").start()
    yield server
    server.stop()


def profile(country: str, ids: list[int]) -> pd.DataFrame:
    now = now_utc()
    n = len(ids)
    return pd.DataFrame({"user_id": ids, "event_timestamp": [now] * n, "created_timestamp": [now] * n,
                         "country": [country] * n, "score": [1.0] * n})


def countries(store: RedisOnlineStore, ids: list[int]) -> list[object]:
    return list(store.read([ViewRequest(PROFILE, ("country",))], [{"user_id": i} for i in ids]).to_dict()["country"])


def hmget_calls(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))


def test_l2_serves_repeated_reads_within_the_tier_max_age(
    redis_url: str, redis_client: redis.Redis, l2_server: RedisServer
) -> None:
    l2 = L2Cache(l2_server.url, {FreshnessTier.STATIC: 0.5})
    store = RedisOnlineStore(redis_url, "l2", l2=l2)
    other_process = RedisOnlineStore(redis_url, "l2")  # writes without knowing of the L2
    store.write(PROFILE, profile("FR", [1, 2]))
    assert countries(store, [1, 2, 3]) == ["FR", "FR", None]  # from the store, now in L2
    assert len(l2_server.client().keys(L2_PREFIX + b"*")) == 3  # misses are cached too
    other_process.write(PROFILE, profile("DE", [1, 2]))
    before = hmget_calls(redis_client)
    assert countries(store, [1, 2, 3]) == ["FR", "FR", None]  # L2 hits: the store is not asked
    assert hmget_calls(redis_client) == before
    assert l2.stats.hits == 3
    time.sleep(0.6)
    assert countries(store, [1, 2, 3]) == ["DE", "DE", None]  # past the max age: the store again
    store.write(PROFILE, profile("BR", [1]))  # a write through this store drops its keys
    assert countries(store, [1]) == ["BR"]


def test_real_time_views_bypass_l2_and_a_dead_l2_is_skipped(
    redis_url: str, l2_server: RedisServer
) -> None:
    l2 = L2Cache(l2_server.url)
    store = RedisOnlineStore(redis_url, "l2rt", l2=l2)
    now = now_utc()
    store.write(PAIRS, pd.DataFrame({"shop": ["s"], "item_id": [1], "event_timestamp": [now],
                                     "created_timestamp": [now], "stock": [5]}))
    assert store.read([ViewRequest(PAIRS, ("stock",))], [{"shop": "s", "item_id": 1}]).to_dict()["stock"] == [5]
    assert l2_server.client().keys() == []
    store.write(PROFILE, profile("FR", [1]))
    l2_server.stop()
    assert countries(store, [1]) == ["FR"]  # the read goes to the store
    assert l2.stats.errors >= 1
    with pytest.raises(ConfigError, match="not a cluster"):
        L2Cache("redis+cluster://127.0.0.1:1")
