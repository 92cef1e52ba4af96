"""Dagster partitions of feature views, from their spec's partitioning."""

from __future__ import annotations

from datetime import date

import dagster as dg

from feature_platform.settings import DEFAULT_PARTITIONS_START, Settings
from feature_platform.specs import FeatureView, Partitioning


def first_partition_day(settings: Settings) -> date:
    """Where every view's partitions start: ``settings.partitions_start`` if set, else the
    first day of the landing data (so the UI shows no partitions from before the data),
    else the platform's default."""
    if settings.partitions_start is not None:
        return settings.partitions_start
    from feature_platform.sample_data.landing import first_ingest_date

    return first_ingest_date(settings.landing_dir) or DEFAULT_PARTITIONS_START


def partitions_def_for(
    partitioning: Partitioning, start: date
) -> dg.TimeWindowPartitionsDefinition:
    """Daily or hourly partitions from ``start`` (UTC), keyed as Dagster does."""
    if partitioning is Partitioning.HOURLY:
        return dg.HourlyPartitionsDefinition(start_date=f"{start.isoformat()}-00:00", timezone="UTC")
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


def view_partitions_def(view: FeatureView, start: date) -> dg.TimeWindowPartitionsDefinition:
    """The partitions of ``view``'s offline and online assets."""
    return partitions_def_for(view.partitioning, start)
