"""Staleness per kind of view, on real stores, with the pipeline stopped and a simulated clock.

Every view is published once at ``STOP`` and then nothing runs. The clock walks on; each
tier must page (WARNING, then CRITICAL) exactly when its kind's measure crosses 2x and 5x
the tier's promise, and never before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from feature_platform.monitoring import AlertLevel, collect_staleness
from feature_platform.offline import OfflineStore
from feature_platform.online import RedisOnlineStore
from feature_platform.specs import (
    Entity,
    Feature,
    FeatureView,
    FreshnessTier,
    Partitioning,
    StalenessKind,
    TableSource,
    ValueType,
)

STOP = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
user = Entity("user", {"user_id": ValueType.INT64})
SECOND = timedelta(seconds=1)


def view(tier: FreshnessTier, kind: StalenessKind) -> FeatureView:
    return FeatureView(
        name=f"{tier.value}_{kind.value}", entity=user, features=[Feature("x", ValueType.FLOAT64)],
        source=TableSource("t"), tier=tier, partitioning=Partitioning.HOURLY if tier is FreshnessTier.REAL_TIME else Partitioning.DAILY,
        staleness=kind,
    )


def rows(event_times: list[datetime], created: datetime) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": list(range(len(event_times))), "event_timestamp": event_times,
        "created_timestamp": [created] * len(event_times), "x": [1.0] * len(event_times),
    })


def publish(fv: FeatureView, offline: OfflineStore, online: RedisOnlineStore, table: pd.DataFrame) -> None:
    cut = fv.partitioning
    first, last = cut.floor(min(table["event_timestamp"])), cut.floor(max(table["event_timestamp"])) + cut.step
    offline.write_partitions(fv, first, last, table)
    online.publish(fv, table, now=STOP)


def level_at(fv: FeatureView, offline: OfflineStore, online: RedisOnlineStore, now: datetime,
             last_materialization: datetime) -> AlertLevel:
    report = collect_staleness(fv, offline, online, now=now, last_materialization=last_materialization)
    return report.level


@pytest.mark.parametrize("tier", list(FreshnessTier))
def test_event_views_page_at_their_tier_thresholds_from_the_newest_event(
    tier: FreshnessTier, redis_url: str, tmp_path: Path
) -> None:
    fv = view(tier, StalenessKind.EVENT)
    offline, online = OfflineStore(tmp_path), RedisOnlineStore(redis_url)
    newest = STOP - timedelta(seconds=30)
    # One entity per event; one old entity does not make the view stale (its rate is reported).
    publish(fv, offline, online, rows([newest, newest - timedelta(seconds=10)], created=STOP))
    warn, fail = 2 * tier.expected_freshness, 5 * tier.expected_freshness
    at = lambda since_newest: level_at(fv, offline, online, newest + since_newest, STOP)
    assert at(warn) is AlertLevel.OK
    assert at(warn + SECOND) is AlertLevel.WARNING
    assert at(fail) is AlertLevel.WARNING
    assert at(fail + SECOND) is AlertLevel.CRITICAL
    online.close()


def test_a_snapshot_view_is_judged_by_when_it_was_last_confirmed_not_by_event_age(
    redis_url: str, tmp_path: Path
) -> None:
    tier = FreshnessTier.STATIC
    fv = view(tier, StalenessKind.SNAPSHOT)
    offline, online = OfflineStore(tmp_path), RedisOnlineStore(redis_url)
    # Profiles that have not changed for months: every value is "old", none is stale.
    publish(fv, offline, online, rows([STOP - timedelta(days=90, hours=i) for i in range(50)], created=STOP))
    warn, fail = 2 * tier.expected_freshness, 5 * tier.expected_freshness
    at = lambda since_confirmed: level_at(fv, offline, online, STOP + since_confirmed, STOP)
    assert at(timedelta(minutes=5)) is AlertLevel.OK
    assert at(warn) is AlertLevel.OK
    assert at(warn + SECOND) is AlertLevel.WARNING
    assert at(fail) is AlertLevel.WARNING
    assert at(fail + SECOND) is AlertLevel.CRITICAL
    report = collect_staleness(fv, offline, online, now=STOP + timedelta(minutes=5), last_materialization=STOP)
    assert report.kind is StalenessKind.SNAPSHOT and report.staleness == timedelta(minutes=5)
    assert report.stale_rate == 1.0  # still measured and reported, not judged
    online.close()


def test_a_windowed_aggregate_is_judged_from_when_it_was_computed(redis_url: str, tmp_path: Path) -> None:
    tier = FreshnessTier.NEAR_REAL_TIME
    fv = view(tier, StalenessKind.WINDOWED_AGGREGATE)
    offline, online = OfflineStore(tmp_path), RedisOnlineStore(redis_url)
    computed = STOP - timedelta(minutes=1)
    # Aggregates as of an hour-old event, computed (created) a minute before the stop.
    publish(fv, offline, online, rows([STOP - timedelta(hours=1)], created=computed))
    warn = 2 * tier.expected_freshness
    at = lambda since_computed: level_at(
        fv, offline, online, computed + since_computed, STOP - timedelta(hours=2))
    assert at(warn) is AlertLevel.OK
    assert at(warn + SECOND) is AlertLevel.WARNING
    online.close()
