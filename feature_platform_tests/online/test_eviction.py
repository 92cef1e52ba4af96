"""The eviction advice of the Redis store, tested on a real ``maxmemory``.

Each test fills a private redis-server past its memory limit and checks which values Redis
dropped first, that a read of a dropped value answers NOT_FOUND (never an error, never
another value), and that the daily cleanup plus the next materialization bring every live
value back.

Redis evicts by sampling (``maxmemory-samples 10`` here, as the README advises: the default
5 is coarser) into a pool of the best candidates seen. It picks the right value as long as
the right values are not rare among the keys: so each test gives the values that should go
first more than twice the room of what the fill evicts. The memory limit is lifted while the
test inspects what went: a large read's reply buffer counts as used memory, and would evict
more values after the count.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_platform.online import RedisOnlineStore
from feature_platform.specs import (
    Entity,
    Feature,
    FeatureView,
    FreshnessTier,
    TableSource,
    ValueType,
    ViewRequest,
)
from feature_platform_tests.online.conftest import now_utc
from feature_platform_tests.redis_server import RedisServer

user = Entity("user", {"user_id": ValueType.INT64})
WIDE = FeatureView(
    name="wide",
    entity=user,
    features=[Feature(f"f{i}", ValueType.FLOAT64) for i in range(12)]
    + [Feature("label", ValueType.STRING)],
    source=TableSource("wide"),
    ttl=timedelta(days=30),
    tier=FreshnessTier.BATCH,
)
FOREVER = FeatureView(
    name="forever",
    entity=user,
    features=[Feature("country", ValueType.STRING)],
    source=TableSource("forever"),
    ttl=None,
    tier=FreshnessTier.STATIC,
)
# Room for about 6,000 WIDE values (~680 bytes each) above the empty server's own memory.
HEADROOM = 4 * 1024 * 1024


def rows(ids: range, event: datetime, version: int) -> pd.DataFrame:
    """WIDE rows whose values say which entity and which version they are."""
    n = len(ids)
    frame = pd.DataFrame({"user_id": list(ids), "event_timestamp": [event] * n, "created_timestamp": [event] * n})
    for i in range(12):
        frame[f"f{i}"] = np.arange(ids.start, ids.stop, dtype=float) + version / 10
    frame["label"] = [f"user-{i}-v{version}" for i in ids]
    return frame


def read_wide(store: RedisOnlineStore, ids: range) -> tuple[list[str], list[str | None]]:
    """Statuses and labels of ``ids`` in one read (a read error fails the test)."""
    response = store.read([ViewRequest(WIDE, ("label",))], [{"user_id": i} for i in ids])
    data = response.to_dict()
    return data["label__status"], data["label"]


def survivors(store: RedisOnlineStore, ids: range, version: int) -> float:
    """The share of ``ids`` still PRESENT; every read is that value or NOT_FOUND."""
    statuses, labels = read_wide(store, ids)
    present = 0
    for i, status, label in zip(ids, statuses, labels, strict=True):
        assert status in ("PRESENT", "NOT_FOUND"), (i, status)
        if status == "PRESENT":
            assert label == f"user-{i}-v{version}"
            present += 1
        else:
            assert label is None
    return present / len(ids)


@dataclass
class LimitedRedis:
    """A redis-server under a memory limit (``maxmemory`` bytes) and an eviction policy."""

    server: RedisServer
    maxmemory: int

    @property
    def url(self) -> str:
        return self.server.url

    def evictions_so_far(self) -> int:
        """How many keys Redis evicted; lifts the limit, so that inspecting evicts no more."""
        client = self.server.client()
        try:
            client.config_set("maxmemory", 0)
            return int(client.info("stats")["evicted_keys"])
        finally:
            client.close()

    def limit_again(self) -> None:
        """Put the memory limit back (the restore runs under it, as in production)."""
        client = self.server.client()
        try:
            client.config_set("maxmemory", self.maxmemory)
        finally:
            client.close()


@pytest.fixture
def limited_redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LimitedRedis]:
    """A redis-server whose maxmemory is its empty footprint + HEADROOM, under the given policy."""
    server = RedisServer(tmp_path / "redis", ["--maxmemory-policy", request.param, "--maxmemory-samples", "10"])
    server.start()
    client = server.client()
    limit = int(client.info("memory")["used_memory"]) + HEADROOM
    client.config_set("maxmemory", limit)
    client.close()
    yield LimitedRedis(server, limit)
    server.stop()


@pytest.mark.parametrize("limited_redis", ["volatile-ttl"], indirect=True)
def test_volatile_ttl_drops_the_values_closest_to_expiry_and_never_one_without_ttl(
    limited_redis: LimitedRedis,
) -> None:
    store = RedisOnlineStore(limited_redis.url, "evict")
    now = now_utc()
    store.write(FOREVER, pd.DataFrame({"user_id": range(500), "event_timestamp": now, "created_timestamp": now,
                                       "country": "FR"}))
    # About 1,200 values must go; 3,000 are closest to expiry.
    soon, late, gone = range(3000), range(3000, 4500), range(4500, 7500)
    # `soon` expires in 1 day, `gone` (deleted offline since) in 30 days - 1 hour, `late` in 30 days.
    store.write(WIDE, rows(soon, now - timedelta(days=29), 1))
    store.write(WIDE, rows(late, now, 1))
    store.write(WIDE, rows(gone, now - timedelta(hours=1), 1))
    evicted = limited_redis.evictions_so_far()
    assert evicted > 1000, "the test must fill Redis past maxmemory"

    soon_lost = round((1 - survivors(store, soon, 1)) * len(soon))
    late_left = survivors(store, late, 1)
    assert soon_lost >= 0.95 * evicted and late_left >= 0.99, (evicted, soon_lost, late_left)
    forever = store.read([ViewRequest(FOREVER, ("country",))], [{"user_id": i} for i in range(500)])
    assert forever.to_dict()["country"] == ["FR"] * 500

    limited_redis.limit_again()

    restore_and_check(store, live={soon: now - timedelta(days=29), late: now}, gone=gone)


@pytest.mark.parametrize("limited_redis", ["allkeys-lru"], indirect=True)
def test_allkeys_lru_drops_the_least_recently_read_values(limited_redis: LimitedRedis) -> None:
    store = RedisOnlineStore(limited_redis.url, "evict")
    now = now_utc()
    # About 1,200 values must go; 3,500 were read least recently.
    hot, cold, gone = range(1500), range(1500, 5000), range(5000, 7700)
    store.write(WIDE, rows(hot, now, 1))
    store.write(WIDE, rows(cold, now, 1))
    # Redis's LRU clock ticks in whole seconds: read `hot` a tick later than `cold` was written.
    time.sleep(1.2)
    read_wide(store, hot)
    store.write(WIDE, rows(gone, now, 1))
    evicted = limited_redis.evictions_so_far()
    assert evicted > 1000, "the test must fill Redis past maxmemory"

    cold_lost = round((1 - survivors(store, cold, 1)) * len(cold))
    hot_left = survivors(store, hot, 1)
    assert cold_lost >= 0.95 * evicted and hot_left >= 0.95, (evicted, cold_lost, hot_left)

    limited_redis.limit_again()

    restore_and_check(store, live={hot: now, cold: now}, gone=gone)


def restore_and_check(store: RedisOnlineStore, live: dict[range, datetime], gone: range) -> None:
    """The daily cleanup (offline keys = ``live``) then the next materialization (``live``
    as a newer version) leave every live entity PRESENT with its new value."""
    existing = [{"user_id": i} for ids in live for i in ids]
    result = store.cleanup(WIDE, existing_keys=existing)
    assert result.removed_gone > 0
    for ids, event in live.items():
        store.write(WIDE, rows(ids, event + timedelta(seconds=1), 2))
    for ids in live:
        assert survivors(store, ids, 2) == 1.0
    assert survivors(store, gone, 1) == 0.0
