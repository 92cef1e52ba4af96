"""Store fixtures for the online-store contract tests, and small test feature views."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from feature_platform.online import OnlineStore, RedisOnlineStore
from feature_platform.specs import (
    Entity,
    Feature,
    FeatureView,
    FreshnessTier,
    TableSource,
    ValueType,
)

user = Entity("user", {"user_id": ValueType.INT64})
pair = Entity("pair", {"shop": ValueType.STRING, "item_id": ValueType.INT64})

SCORES = FeatureView(
    name="scores",
    entity=user,
    features=[
        Feature("score", ValueType.FLOAT64),
        Feature("count", ValueType.INT64),
        Feature("label", ValueType.STRING),
        Feature("flag", ValueType.BOOL),
        Feature("seen_at", ValueType.TIMESTAMP),
    ],
    source=TableSource("scores"),
    ttl=timedelta(days=2),
    tier=FreshnessTier.BATCH,
)
PROFILE = FeatureView(
    name="profile",
    entity=user,
    features=[Feature("country", ValueType.STRING), Feature("score", ValueType.FLOAT64)],
    source=TableSource("profile"),
    ttl=None,
    tier=FreshnessTier.STATIC,
)
PAIRS = FeatureView(
    name="pairs",
    entity=pair,
    features=[Feature("stock", ValueType.INT64)],
    source=TableSource("pairs"),
    ttl=timedelta(hours=1),
    tier=FreshnessTier.REAL_TIME,
)

STORE_KINDS = ["redis", "redis_cluster"]


def now_utc() -> datetime:
    """The wall clock, to the microsecond (Redis expiry runs on the real clock)."""
    return datetime.now(UTC)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest) -> Iterator[OnlineStore]:
    """Every OnlineStore topology, one test run each (a new store joins STORE_KINDS)."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    elif request.param == "redis_cluster":
        url = request.getfixturevalue("cluster_url")
    else:
        raise AssertionError(request.param)
    instance: OnlineStore = RedisOnlineStore(url, "contract", batch_size=7, script_keys=3)
    yield instance
    instance.close()
