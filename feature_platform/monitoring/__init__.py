"""Freshness monitoring: staleness metrics measured from the data, alert levels, and the
freshness windows of each SLA tier. Nothing here imports Dagster."""

from feature_platform.monitoring.collect import collect_staleness
from feature_platform.monitoring.levels import AlertLevel
from feature_platform.monitoring.staleness import StalenessReport, compute_staleness
from feature_platform.monitoring.table import format_duration, format_staleness_table
from feature_platform.monitoring.thresholds import AlertThresholds
from feature_platform.monitoring.windows import freshness_windows

__all__ = [
    "AlertLevel",
    "AlertThresholds",
    "StalenessReport",
    "collect_staleness",
    "compute_staleness",
    "format_duration",
    "format_staleness_table",
    "freshness_windows",
]
