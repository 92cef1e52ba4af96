"""Staleness metrics and alert levels on constructed data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from feature_platform.errors import ConfigError
from feature_platform.monitoring import (
    AlertLevel,
    AlertThresholds,
    compute_staleness,
    format_staleness_table,
    freshness_windows,
)
from feature_platform.specs import (
    Entity,
    Feature,
    FeatureView,
    FreshnessTier,
    Partitioning,
    TableSource,
    ValueType,
)

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
# The seed's stale-rate thresholds, which a view opts into (off by default).
STALE_RATE = {"alert.warning_stale_rate": "0.05", "alert.critical_stale_rate": "0.2"}
user = Entity("user", {"user_id": ValueType.INT64})


def make_view(
    tier: FreshnessTier = FreshnessTier.NEAR_REAL_TIME,
    ttl: timedelta | None = None,
    tags: dict[str, str] | None = None,
    partitioning: Partitioning = Partitioning.HOURLY,
) -> FeatureView:
    return FeatureView(
        name=f"v_{tier.value}",
        entity=user,
        features=[Feature("x", ValueType.FLOAT64)],
        source=TableSource("t"),
        tier=tier,
        ttl=ttl,
        partitioning=partitioning,
        tags=tags or {},
    )


def staleness(view: FeatureView, ages: list[timedelta] | None, **kwargs: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "now": NOW,
        "offline_max_event_ts": NOW - timedelta(minutes=1),
        "online_event_timestamps": None if ages is None else [NOW - a for a in ages],
        "last_materialization": NOW - timedelta(minutes=5),
    }
    args.update(kwargs)
    return compute_staleness(view, **args)  # type: ignore[arg-type]


def test_percentiles_are_exact_nearest_rank_ages() -> None:
    view = make_view(FreshnessTier.BATCH, partitioning=Partitioning.DAILY)
    ages = [timedelta(seconds=s) for s in range(100, 0, -1)]  # 1..100 s, shuffled order
    report = staleness(view, ages)
    assert report.age_p50 == timedelta(seconds=50)
    assert report.age_p95 == timedelta(seconds=95)
    assert report.age_p99 == timedelta(seconds=99)
    assert report.online_feature_lag == timedelta(seconds=1)
    assert report.offline_feature_lag == timedelta(minutes=1)
    assert report.materialization_lag == timedelta(minutes=5)
    assert report.online_entity_count == 100
    assert report.stale_rate == 0.0
    assert report.level is AlertLevel.OK and report.reasons == ()


def test_stale_rate_counts_ages_strictly_over_expected_and_skips_missing_values() -> None:
    view = make_view(tags=STALE_RATE)  # expected 15 min
    ages = [timedelta(minutes=15)] * 7 + [timedelta(minutes=15, microseconds=1)] * 3
    report = staleness(view, [*ages], online_event_timestamps=[*(NOW - a for a in ages), None])
    assert report.stale_entity_count == 3
    assert report.online_entity_count == 10
    assert report.entities_without_value == 1
    assert report.stale_rate == pytest.approx(0.3)
    assert report.level is AlertLevel.CRITICAL
    assert report.reasons[0].startswith("stale rate 30.0% of 10 entities")


@pytest.mark.parametrize(
    ("stale", "expected_level"),
    [
        (1, AlertLevel.OK),
        (2, AlertLevel.WARNING),
        (4, AlertLevel.WARNING),
        (5, AlertLevel.CRITICAL),
    ],
)
def test_stale_rate_boundaries(stale: int, expected_level: AlertLevel) -> None:
    view = make_view(tags=STALE_RATE)
    total = 20
    ages = [timedelta(hours=1)] * stale + [timedelta(minutes=1)] * (total - stale)
    report = staleness(view, ages)
    # 1/20 = 5% (not above 5%: OK), 2/20 = 10%, 4/20 = 20% (not above 20%), 5/20 = 25%.
    assert report.level is expected_level, report.reasons


def test_stale_rate_exactly_at_the_thresholds_does_not_fire() -> None:
    view = make_view(tags=STALE_RATE)
    assert staleness(make_view(), [timedelta(hours=1)] * 19 + [timedelta(minutes=1)]).level is AlertLevel.OK  # unless set
    at_warning = [timedelta(hours=1)] + [timedelta(minutes=1)] * 19  # 5%
    at_critical = [timedelta(hours=1)] * 4 + [timedelta(minutes=1)] * 16  # 20%
    assert staleness(view, at_warning).level is AlertLevel.OK
    assert staleness(view, at_critical).level is AlertLevel.WARNING


@pytest.mark.parametrize(
    ("lag", "level"),
    [
        (timedelta(minutes=30), AlertLevel.OK),  # exactly 2x
        (timedelta(minutes=30, microseconds=1), AlertLevel.WARNING),
        (timedelta(minutes=75), AlertLevel.WARNING),  # exactly 5x
        (timedelta(minutes=75, microseconds=1), AlertLevel.CRITICAL),
    ],
)
def test_offline_lag_boundaries(lag: timedelta, level: AlertLevel) -> None:
    report = staleness(make_view(), None, offline_max_event_ts=NOW - lag)
    assert report.level is level
    assert report.feature_lag == lag


def test_online_lag_escalates_independently_of_offline() -> None:
    report = staleness(make_view(), [timedelta(hours=2)] * 3)
    assert report.online_feature_lag == timedelta(hours=2)
    assert report.level is AlertLevel.CRITICAL
    assert any(r.startswith("online feature lag 2 hours is 8.0x") for r in report.reasons)


def test_emergencies_override_everything() -> None:
    view = make_view()
    assert (
        staleness(view, [timedelta(0)], materialization_failed=True).level is AlertLevel.EMERGENCY
    )
    report = staleness(view, None, online_unreachable=True)
    assert report.level is AlertLevel.EMERGENCY
    assert report.reasons == ("online store unreachable",)


def test_static_tier_uses_seven_days() -> None:
    view = make_view(FreshnessTier.STATIC, partitioning=Partitioning.DAILY)
    fresh = staleness(
        view,
        None,
        offline_max_event_ts=NOW - timedelta(days=14),
        last_materialization=NOW - timedelta(days=10),
    )
    assert fresh.level is AlertLevel.OK, fresh.reasons
    late = staleness(
        view,
        None,
        offline_max_event_ts=NOW - timedelta(days=14, seconds=1),
        last_materialization=NOW - timedelta(days=1),
    )
    assert late.level is AlertLevel.WARNING


def test_materialization_lag_rule_uses_the_longer_of_partition_and_expected() -> None:
    view = make_view()  # hourly partitions, expected 15 min -> interval 1 h, limit 90 min
    ok = staleness(view, None, last_materialization=NOW - timedelta(minutes=90))
    late = staleness(view, None, last_materialization=NOW - timedelta(minutes=91))
    assert ok.level is AlertLevel.OK
    assert late.level is AlertLevel.WARNING
    assert late.reasons[0].startswith("last materialization 1 hour 31 minutes ago")


def test_p99_over_ttl_warns_and_no_data_warns() -> None:
    view = make_view(FreshnessTier.BATCH, ttl=timedelta(hours=30), partitioning=Partitioning.DAILY)
    ages = [timedelta(hours=1)] * 98 + [timedelta(hours=31)] * 2  # 2% stale, p99 = 31 h
    report = staleness(view, ages)
    assert report.level is AlertLevel.WARNING
    assert report.reasons == ("p99 online age 1 day 7 hours > ttl 1 day 6 hours",)
    empty = staleness(view, None, offline_max_event_ts=None, last_materialization=None)
    assert empty.level is AlertLevel.WARNING and empty.reasons[0].startswith("no data")


def test_numpy_datetime64_input_and_naive_now() -> None:
    stamps = np.array(["2026-01-15T11:59:00", "NaT", "2026-01-15T11:00:00"], dtype="datetime64[us]")
    report = compute_staleness(
        make_view(),
        now=NOW.replace(tzinfo=None),
        offline_max_event_ts=None,
        online_event_timestamps=stamps,
        last_materialization=None,
    )
    assert report.online_entity_count == 2 and report.entities_without_value == 1
    assert report.age_p99 == timedelta(hours=1)
    assert report.stale_rate == 0.5


def test_thresholds_from_tags_and_overrides() -> None:
    view = make_view(
        tags={
            "alert.warning_stale_rate": "0.5",
            "alert.critical_stale_rate": "0.9",
            "alert.expected_freshness_s": "3600",
            "owner": "x",
        }
    )
    limits = AlertThresholds.for_view(view)
    assert limits.warning_stale_rate == 0.5 and limits.expected_freshness == timedelta(hours=1)
    assert staleness(view, [timedelta(minutes=30)] * 3).level is AlertLevel.OK
    override = AlertThresholds(critical_lag_factor=1.0, warning_lag_factor=1.0)
    assert AlertThresholds.for_view(view, {view.name: override}) is override
    with pytest.raises(ConfigError, match="alert.warning_stale_rate"):
        AlertThresholds.for_view(make_view(tags={"alert.warning_stale_rate": "five"}))
    with pytest.raises(ConfigError, match="alert.bogus"):
        AlertThresholds.for_view(make_view(tags={"alert.bogus": "1"}))
    with pytest.raises(ConfigError, match="shares, not percents"):
        AlertThresholds(warning_stale_rate=5, critical_stale_rate=20)


def test_metadata_is_json_and_table_lists_each_view() -> None:
    healthy = staleness(
        make_view(FreshnessTier.BATCH, partitioning=Partitioning.DAILY), [timedelta(minutes=3)]
    )
    broken = staleness(make_view(), [timedelta(hours=2)], online_unreachable=True)
    metadata = broken.to_metadata()
    json.dumps(metadata)
    assert metadata["level"] == "EMERGENCY" and metadata["priority"] == "P1"
    assert metadata["online_feature_lag"] == "2 hours" and metadata["expected_freshness"] == "15 minutes"
    lines = format_staleness_table([healthy, broken]).splitlines()
    assert lines[0].split()[:3] == ["VIEW", "TIER", "LEVEL"]
    assert lines[1].split()[:3] == ["v_batch", "batch", "OK"]
    assert "EMERGENCY (P1)" in lines[2] and "2.0h" in lines[2]
    assert "online store unreachable (+1 more)" in lines[2]  # lag; the stale rate is not judged by default


def test_freshness_windows_per_tier() -> None:
    assert freshness_windows(FreshnessTier.REAL_TIME) == (
        timedelta(minutes=2),
        timedelta(minutes=5),
    )
    assert freshness_windows(FreshnessTier.NEAR_REAL_TIME) == (
        timedelta(minutes=30),
        timedelta(minutes=75),
    )
    assert freshness_windows(FreshnessTier.BATCH) == (timedelta(hours=48), timedelta(hours=120))
    assert freshness_windows(FreshnessTier.STATIC) == (timedelta(days=14), timedelta(days=35))
    tight = AlertThresholds(expected_freshness=timedelta(seconds=10))
    assert freshness_windows(FreshnessTier.REAL_TIME, tight) == (
        timedelta(seconds=60),
        timedelta(seconds=120),
    )


def test_level_order_and_priorities() -> None:
    assert AlertLevel.OK < AlertLevel.WARNING < AlertLevel.CRITICAL < AlertLevel.EMERGENCY
    assert [lvl.priority for lvl in AlertLevel] == [None, "P3", "P2", "P1"]
    assert AlertLevel.parse("critical") is AlertLevel.CRITICAL
