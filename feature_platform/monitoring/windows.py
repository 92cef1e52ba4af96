"""Freshness windows of each SLA tier, for Dagster's ``FreshnessPolicy.time_window``."""

from __future__ import annotations

from datetime import timedelta

from feature_platform.monitoring.thresholds import AlertThresholds
from feature_platform.specs import FreshnessTier

DAGSTER_MIN_WINDOW = timedelta(seconds=60)


def freshness_windows(
    tier: FreshnessTier, thresholds: AlertThresholds | None = None
) -> tuple[timedelta, timedelta]:
    """``(warn_window, fail_window)`` of a tier: the alert thresholds applied to its promise.

    warn = ``warning_lag_factor`` x expected freshness, fail = ``critical_lag_factor`` x
    expected freshness (defaults 2x and 5x), each at least 60 s (Dagster's minimum), and
    fail at least 60 s longer than warn. With the defaults:

    =============== ========== ============ ============
    tier            expected   warn window  fail window
    =============== ========== ============ ============
    REAL_TIME       1 min      2 min        5 min
    NEAR_REAL_TIME  15 min     30 min       75 min
    BATCH           24 h       48 h         120 h
    STATIC          7 days     14 days      35 days
    =============== ========== ============ ============

    So STATIC views get a long window rather than none: a reference table untouched for
    five weeks is worth a look. ``thresholds.expected_freshness``, when set, replaces the
    tier's promise. Dagster judges these windows against the last materialization time;
    :func:`compute_staleness` judges the data itself.
    """
    limits = thresholds or AlertThresholds()
    expected = limits.expected_freshness or FreshnessTier(tier).expected_freshness
    warn = max(expected * limits.warning_lag_factor, DAGSTER_MIN_WINDOW)
    fail = max(expected * limits.critical_lag_factor, warn + DAGSTER_MIN_WINDOW)
    return warn, fail
