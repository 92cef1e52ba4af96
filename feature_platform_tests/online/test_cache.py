"""The L1 hot-entity cache in front of Redis: per-tier max age, bounds, stats, hot keys."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from feature_platform.errors import ConfigError
from feature_platform.online import HotKey, L1Cache, RedisOnlineStore
from feature_platform.specs import FreshnessTier, ViewRequest
from feature_platform_tests.online.conftest import PAIRS, PROFILE, SCORES, now_utc


class Clock:
    """A hand-moved monotonic clock, so max-age tests need no sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def profile(ids: list[int], country: str) -> pd.DataFrame:
    now = now_utc()
    return pd.DataFrame({"user_id": ids, "event_timestamp": [now] * len(ids), "created_timestamp": [now] * len(ids),
                         "country": [country] * len(ids), "score": [1.0] * len(ids)})


def countries(store: RedisOnlineStore, ids: list[int]) -> list[object]:
    return store.read([ViewRequest(PROFILE, ("country",))], [{"user_id": i} for i in ids]).to_dict()["country"]


def test_cached_values_are_served_until_the_tier_max_age(redis_url: str) -> None:
    clock = Clock()
    cache = L1Cache(max_age_s={FreshnessTier.STATIC: 10}, clock=clock)
    reader = RedisOnlineStore(redis_url, "c", cache=cache)
    other_process = RedisOnlineStore(redis_url, "c")
    other_process.write(PROFILE, profile([1, 2], "FR"))
    assert countries(reader, [1, 2, 3]) == ["FR", "FR", None]
    other_process.write(PROFILE, profile([1, 3], "DE"))
    clock.t += 9.9
    assert countries(reader, [1, 2, 3]) == ["FR", "FR", None]  # within max age: L1 answers
    clock.t += 0.2
    assert countries(reader, [1, 2, 3]) == ["DE", "FR", "DE"]
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.size) == (3, 6, 3)
    assert stats.hit_rate == pytest.approx(3 / 9)


def test_own_writes_invalidate_and_real_time_is_never_cached(redis_url: str) -> None:
    cache = L1Cache(clock=Clock())
    store = RedisOnlineStore(redis_url, "c", cache=cache)
    store.write(PROFILE, profile([1], "FR"))
    assert countries(store, [1]) == ["FR"]
    store.write(PROFILE, profile([1], "DE"))
    assert countries(store, [1]) == ["DE"]
    now = now_utc()
    pairs = pd.DataFrame({"shop": ["s"], "item_id": [1], "event_timestamp": [now], "created_timestamp": [now],
                          "stock": [1]})
    store.write(PAIRS, pairs)
    request = [ViewRequest(PAIRS, ("stock",))]
    before = cache.stats
    assert store.read(request, [{"shop": "s", "item_id": 1}]).to_dict()["stock"] == [1]
    RedisOnlineStore(redis_url, "c").write(PAIRS, pairs.assign(stock=[2], created_timestamp=[now_utc()]))
    assert store.read(request, [{"shop": "s", "item_id": 1}]).to_dict()["stock"] == [2]
    assert cache.stats.hits == before.hits and cache.stats.misses == before.misses


def test_cached_values_still_expire_exactly(redis_url: str) -> None:
    cache = L1Cache(clock=Clock())
    store = RedisOnlineStore(redis_url, "c", cache=cache)
    now = now_utc()
    event = now - timedelta(hours=1)
    frame = pd.DataFrame({"user_id": [1], "event_timestamp": [event], "created_timestamp": [now], "score": [1.0],
                          "count": [1], "label": ["a"], "flag": [True], "seen_at": [now]})
    store.write(SCORES, frame, now=now)
    request = [ViewRequest(SCORES, ("score",))]
    assert store.read(request, [{"user_id": 1}], now=now).to_dict()["score__status"] == ["PRESENT"]
    late = store.read(request, [{"user_id": 1}], now=event + timedelta(days=2, microseconds=1))
    assert late.to_dict()["score__status"] == ["EXPIRED"] and cache.stats.hits == 1


def test_cache_is_size_bounded_and_reports_hot_keys(redis_url: str) -> None:
    cache = L1Cache(max_entries=3, clock=Clock(), hot_key_capacity=2)
    store = RedisOnlineStore(redis_url, "hot", cache=cache)
    store.write(PROFILE, profile(list(range(10)), "FR"))
    for _ in range(5):
        countries(store, [7])
    for _ in range(3):
        countries(store, [8, 7])
    countries(store, list(range(10)))
    assert cache.stats.size == 3 and cache.stats.evictions >= 7
    top = cache.hot_keys.top(2)
    assert top == [HotKey("hot", "profile", (7,), 9), HotKey("hot", "profile", (8,), 4)]


def test_cache_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="max_entries"):
        L1Cache(max_entries=0)
    with pytest.raises(ConfigError, match="near_real_time"):
        L1Cache(max_age_s={FreshnessTier.NEAR_REAL_TIME: -1})
    assert not L1Cache().enabled_for(FreshnessTier.REAL_TIME)
    assert L1Cache().max_age_s[FreshnessTier.NEAR_REAL_TIME] < L1Cache().max_age_s[FreshnessTier.BATCH]

