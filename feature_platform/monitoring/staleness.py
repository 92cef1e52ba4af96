"""Staleness metrics of a feature view, measured from the data it serves (seed Deep Dive 4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from feature_platform.errors import TimestampError
from feature_platform.monitoring.levels import AlertLevel
from feature_platform.monitoring.thresholds import AlertThresholds
from feature_platform.specs import FeatureView, FreshnessTier, StalenessKind
from feature_platform.specs.durations import human_duration

_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class StalenessReport:
    """A feature view's freshness at ``now`` and the alert level it earns.

    Lags and ages are ``now`` minus a timestamp (None when there was nothing to measure).
    ``online_entity_count`` counts entities with an online value; ``entities_without_value``
    counts None/NaT entries of the input (no value served), which are left out of the rate
    and the percentiles. ``stale_rate`` is the share of entities with a value whose age is
    strictly greater than ``expected_freshness``. ``reasons`` says why ``level`` is what
    it is, one line per rule that fired.
    """

    view: str
    tier: FreshnessTier
    now: datetime
    expected_freshness: timedelta
    level: AlertLevel
    reasons: tuple[str, ...]
    online_feature_lag: timedelta | None
    offline_feature_lag: timedelta | None
    materialization_lag: timedelta | None
    online_entity_count: int
    entities_without_value: int
    stale_entity_count: int
    stale_rate: float | None
    age_p50: timedelta | None
    age_p95: timedelta | None
    age_p99: timedelta | None
    materialization_failed: bool = False
    online_unreachable: bool = False
    online_lost: str | None = None
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    kind: StalenessKind = StalenessKind.EVENT
    staleness: timedelta | None = None

    @property
    def feature_lag(self) -> timedelta | None:
        """The worse of the online and offline feature lags (what the lag rules judge)."""
        lags = [x for x in (self.online_feature_lag, self.offline_feature_lag) if x is not None]
        return max(lags) if lags else None

    def to_metadata(self) -> dict[str, object]:
        """JSON-friendly metadata for a Dagster asset check result and an alert's details;
        durations read as "2 hours 5 minutes" (None when unknown)."""
        return {
            "view": self.view,
            "tier": self.tier.value,
            "staleness_kind": self.kind.value,
            "staleness": _duration(self.staleness),
            "level": self.level.name,
            "priority": self.level.priority,
            "reasons": list(self.reasons),
            "evaluated_at": self.now.isoformat(),
            "expected_freshness": _duration(self.expected_freshness),
            "feature_lag": _duration(self.feature_lag),
            "online_feature_lag": _duration(self.online_feature_lag),
            "offline_feature_lag": _duration(self.offline_feature_lag),
            "materialization_lag": _duration(self.materialization_lag),
            "online_entity_count": self.online_entity_count,
            "entities_without_value": self.entities_without_value,
            "stale_entity_count": self.stale_entity_count,
            "stale_rate": self.stale_rate,
            "age_p50": _duration(self.age_p50),
            "age_p95": _duration(self.age_p95),
            "age_p99": _duration(self.age_p99),
            "materialization_failed": self.materialization_failed,
            "online_unreachable": self.online_unreachable,
            "online_lost": self.online_lost,
        }


def compute_staleness(
    view: FeatureView,
    *,
    now: datetime,
    offline_max_event_ts: datetime | None,
    online_event_timestamps: Sequence[datetime | None] | np.ndarray | pd.Series | None,
    last_materialization: datetime | None,
    thresholds: AlertThresholds | None = None,
    materialization_failed: bool = False,
    online_unreachable: bool = False,
    online_lost: str | None = None,
    last_computed: datetime | None = None,
) -> StalenessReport:
    """Measure ``view``'s staleness at ``now`` and decide its alert level.

    The measure judged against the tier depends on ``view.staleness`` (SEMANTICS.md): a
    SNAPSHOT view's staleness is its materialization lag (a value holds until it changes:
    an old event time is not stale); an EVENT view's is now minus the newest event (online
    and offline), with the p99-over-ttl rule; a
    WINDOWED_AGGREGATE view's is the time since it was computed, the later of
    ``last_materialization`` and ``last_computed`` (the newest created time of its online
    values, for streamed tiles). The other measures are still reported.

    ``offline_max_event_ts``: the newest event timestamp in the offline store.
    ``online_event_timestamps``: the event timestamp of each entity's online value (a
    sequence of datetimes, a numpy datetime64 array or a pandas Series; None/NaT for an
    entity with no value); None when the online store was not read. ``last_materialization``:
    when the last successful materialization finished. Naive datetimes are read as UTC.
    ``thresholds`` default to :meth:`AlertThresholds.for_view`.

    ``online_lost``: why the online store lost the view's data (see
    :mod:`feature_platform.materialization.online_loss`), or None.

    Levels (the worst rule wins): EMERGENCY when ``materialization_failed``,
    ``online_unreachable`` or ``online_lost``; CRITICAL when the judged staleness exceeds
    ``critical_lag_factor`` x expected or the stale rate exceeds ``critical_stale_rate``
    (when the view sets one); WARNING when it exceeds ``warning_lag_factor`` x expected,
    the stale rate exceeds ``warning_stale_rate`` (when set), (EVENT) the p99 age exceeds the ttl,
    the materialization lag exceeds its limit (never below the tier's warning threshold, so
    a stopped pipeline pages at the tier's threshold first), or there is no data at all to
    measure; otherwise OK.
    """
    limits = thresholds or AlertThresholds.for_view(view)
    at = _utc(now, "now")
    expected = limits.expected_freshness or view.tier.expected_freshness
    online_lag = offline_lag = mat_lag = None
    if offline_max_event_ts is not None:
        offline_lag = at - _utc(offline_max_event_ts, "offline_max_event_ts")
    if last_materialization is not None:
        mat_lag = at - _utc(last_materialization, "last_materialization")
    ages_us, missing = _online_ages_us(online_event_timestamps, at)
    stale_count = int((ages_us > expected // _US).sum())
    stale_rate = stale_count / len(ages_us) if len(ages_us) else None
    p50 = p95 = p99 = None
    if len(ages_us):
        online_lag = timedelta(microseconds=int(ages_us.min()))
        # Nearest-rank percentiles: each one is an age some entity really has.
        q = np.percentile(ages_us, [50, 95, 99], method="inverted_cdf")
        p50, p95, p99 = (timedelta(microseconds=int(v)) for v in q)

    kind = view.staleness or StalenessKind.EVENT
    reasons: list[tuple[AlertLevel, str]] = []
    if materialization_failed:
        reasons.append((AlertLevel.EMERGENCY, "materialization failed"))
    if online_unreachable:
        reasons.append((AlertLevel.EMERGENCY, "online store unreachable"))
    if online_lost:
        reasons.append((AlertLevel.EMERGENCY, f"online store lost data for {view.name}: {online_lost}"))
    judged: timedelta | None
    if kind is StalenessKind.EVENT:
        lags = [lag for lag in (online_lag, offline_lag) if lag is not None]
        judged = max(lags) if lags else None
        for where, lag in (("online feature lag", online_lag), ("offline feature lag", offline_lag)):
            if lag is not None:
                reasons += _lag_rule(where, lag, expected, limits)
    else:
        if kind is StalenessKind.SNAPSHOT:
            judged, what = mat_lag, "materialization lag (snapshot: time since last confirmed)"
        else:
            computed = [_utc(t, "last_computed") for t in (last_materialization, last_computed) if t is not None]
            judged, what = (at - max(computed) if computed else None), "time since computed (windowed aggregate)"
        if judged is not None:
            reasons += _lag_rule(what, judged, expected, limits)
    if stale_rate is not None:
        share = f"{stale_rate:.1%} of {len(ages_us)} entities older than {human_duration(expected)}"
        if limits.critical_stale_rate is not None and stale_rate > limits.critical_stale_rate:
            reasons.append(
                (AlertLevel.CRITICAL, f"stale rate {share} > {limits.critical_stale_rate:.0%}")
            )
        elif limits.warning_stale_rate is not None and stale_rate > limits.warning_stale_rate:
            reasons.append(
                (AlertLevel.WARNING, f"stale rate {share} > {limits.warning_stale_rate:.0%}")
            )
    if kind is not StalenessKind.SNAPSHOT and mat_lag is not None and limits.materialization_lag_factor is not None:
        interval = max(view.partitioning.step, expected)
        limit = max(interval * limits.materialization_lag_factor, expected * limits.warning_lag_factor)
        if mat_lag > limit:
            reasons.append(
                (AlertLevel.WARNING, f"last materialization {human_duration(mat_lag)} ago > {human_duration(limit)}")
            )
    if (
        kind is StalenessKind.EVENT and limits.warn_on_p99_over_ttl and view.ttl is not None
        and p99 is not None and p99 > view.ttl
    ):
        reasons.append((AlertLevel.WARNING, f"p99 online age {human_duration(p99)} > ttl {human_duration(view.ttl)}"))
    if offline_lag is None and online_lag is None and mat_lag is None and not online_unreachable:
        reasons.append((AlertLevel.WARNING, "no data: nothing materialized offline or online"))

    return StalenessReport(
        view=view.name,
        tier=view.tier,
        now=at,
        expected_freshness=expected,
        level=max((level for level, _ in reasons), default=AlertLevel.OK),
        reasons=tuple(text for _, text in sorted(reasons, key=lambda r: -r[0])),
        online_feature_lag=online_lag,
        offline_feature_lag=offline_lag,
        materialization_lag=mat_lag,
        online_entity_count=len(ages_us),
        entities_without_value=missing,
        stale_entity_count=stale_count,
        stale_rate=stale_rate,
        age_p50=p50,
        age_p95=p95,
        age_p99=p99,
        materialization_failed=materialization_failed,
        online_unreachable=online_unreachable,
        online_lost=online_lost,
        thresholds=limits,
        kind=kind,
        staleness=judged,
    )


def _lag_rule(
    where: str, lag: timedelta, expected: timedelta, limits: AlertThresholds
) -> list[tuple[AlertLevel, str]]:
    ratio = lag / expected
    text = f"{where} {human_duration(lag)} is {ratio:.1f}x the expected {human_duration(expected)}"
    if ratio > limits.critical_lag_factor:
        return [(AlertLevel.CRITICAL, f"{text} (> {limits.critical_lag_factor:g}x)")]
    if ratio > limits.warning_lag_factor:
        return [(AlertLevel.WARNING, f"{text} (> {limits.warning_lag_factor:g}x)")]
    return []


def _online_ages_us(
    stamps: Sequence[datetime | None] | np.ndarray | pd.Series | None, now: datetime
) -> tuple[np.ndarray, int]:
    """Ages in whole microseconds of the entities that have a value, and how many have none."""
    if stamps is None:
        return np.empty(0, dtype=np.int64), 0
    try:
        series = pd.to_datetime(
            pd.Series(stamps, dtype=object if not len(stamps) else None), utc=True
        )
    except (TypeError, ValueError) as error:
        raise TimestampError(
            f"online_event_timestamps must be datetimes (None for no value): {error}"
        ) from None
    present = series.dropna()
    epoch_us = present.dt.tz_convert(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    now_us = (now - datetime(1970, 1, 1, tzinfo=UTC)) // _US
    return now_us - epoch_us, len(series) - len(present)


def _utc(ts: datetime, what: str) -> datetime:
    if not isinstance(ts, datetime):
        raise TimestampError(f"{what} must be a datetime, got {type(ts).__name__}")
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _duration(value: timedelta | None) -> str | None:
    return None if value is None else human_duration(value)
