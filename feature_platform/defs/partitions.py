"""Dagster partitions of feature views, from their spec's partitioning."""

from __future__ import annotations

from datetime import date

import dagster as dg

from feature_platform.specs import FeatureView, Partitioning


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
