"""A per-view text table of staleness reports, for the command line."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from feature_platform.monitoring.staleness import StalenessReport

_HEADERS = (
    "VIEW",
    "TIER",
    "LEVEL",
    "ONLINE LAG",
    "OFFLINE LAG",
    "MAT LAG",
    "STALE",
    "P50 AGE",
    "P95 AGE",
    "P99 AGE",
    "REASON",
)


def format_duration(value: timedelta | None) -> str:
    """A short duration: ``45s``, ``12.5m``, ``3.2h``, ``2.0d``; ``-`` for None."""
    if value is None:
        return "-"
    seconds = value.total_seconds()
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    if seconds < 60:
        text = f"{seconds:.0f}s"
    elif seconds < 3600:
        text = f"{seconds / 60:.1f}m"
    elif seconds < 86400:
        text = f"{seconds / 3600:.1f}h"
    else:
        text = f"{seconds / 86400:.1f}d"
    return sign + text


def format_staleness_table(reports: Iterable[StalenessReport]) -> str:
    """One row per report (view, tier, level with priority, lags, stale rate, age
    percentiles, first reason), columns aligned, for a ``feature-platform freshness`` command."""
    rows = [_HEADERS]
    for r in reports:
        level = f"{r.level.name} ({r.level.priority})" if r.level.priority else r.level.name
        stale = "-" if r.stale_rate is None else f"{r.stale_rate:.1%}"
        more = f" (+{len(r.reasons) - 1} more)" if len(r.reasons) > 1 else ""
        rows.append(
            (
                r.view,
                r.tier.value,
                level,
                format_duration(r.online_feature_lag),
                format_duration(r.offline_feature_lag),
                format_duration(r.materialization_lag),
                stale,
                format_duration(r.age_p50),
                format_duration(r.age_p95),
                format_duration(r.age_p99),
                (r.reasons[0] + more) if r.reasons else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
