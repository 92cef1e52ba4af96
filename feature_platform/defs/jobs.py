"""Asset jobs: dbt, and one partitioned job per partitioning of the feature views."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, TypeAlias

import dagster as dg

from feature_platform.defs.feature_view_assets import offline_key, online_key
from feature_platform.defs.partitions import partitions_def_for
from feature_platform.specs import FeatureView, Partitioning

AssetJob: TypeAlias = Any
"""A job made by ``dg.define_asset_job``. Dagster exports no public name for its class (it lives
in the private ``dagster._core``), so the platform names it here, once."""

DBT_BUILD_JOB = "dbt_build_job"
# Tags that make one run materialize a range of partitions (a single-run backfill).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that materialize partitions ``first`` ... ``last`` (inclusive) in one run."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def materialize_job_name(partitioning: Partitioning) -> str:
    """The job that materializes every view of one partitioning, offline then online."""
    return f"{partitioning.value}_feature_views_job"


def views_by_partitioning(views: Sequence[FeatureView]) -> dict[Partitioning, list[FeatureView]]:
    """Views grouped by partitioning, each group in definition order."""
    groups: dict[Partitioning, list[FeatureView]] = {}
    for view in views:
        groups.setdefault(view.partitioning, []).append(view)
    return groups


def stream_correction_job_name(partitioning: Partitioning) -> str:
    """The daily batch correction job of the stream views of one partitioning."""
    return f"{partitioning.value}_stream_correction_job"


def build_materialize_jobs(
    views: Sequence[FeatureView],
    partitions_start: date,
    blocking_checks: Mapping[str, Sequence[dg.AssetChecksDefinition]],
) -> list[AssetJob]:
    """A partitioned job per partitioning (daily, hourly) over the offline and online assets
    of the batch views (those reading a table) and the blocking checks between them
    (``blocking_checks`` by view name); the slower monitoring checks run in jobs of their own."""
    return _partitioned_jobs(
        [v for v in views if not v.is_stream], partitions_start, blocking_checks, materialize_job_name,
        "Materialize the {} feature views offline and online.",
    )


def build_stream_correction_jobs(
    views: Sequence[FeatureView],
    partitions_start: date,
    blocking_checks: Mapping[str, Sequence[dg.AssetChecksDefinition]],
) -> list[AssetJob]:
    """A partitioned job per partitioning over the stream views' offline and online assets:
    the batch correction, which recomputes their offline partitions from every landed event
    (late, dead-lettered and shed ones too) and publishes with the same compare-and-set."""
    return _partitioned_jobs(
        [v for v in views if v.is_stream], partitions_start, blocking_checks, stream_correction_job_name,
        "Batch correction of the {} stream views: offline partitions recomputed from every landed "
        "event (late and dead-lettered ones included), published with compare-and-set.",
    )


def _partitioned_jobs(
    views: Sequence[FeatureView],
    partitions_start: date,
    blocking_checks: Mapping[str, Sequence[dg.AssetChecksDefinition]],
    name: Callable[[Partitioning], str],
    description: str,
) -> list[AssetJob]:
    jobs = []
    for partitioning, group in views_by_partitioning(views).items():
        keys = [k for v in group for k in (offline_key(v), online_key(v))]
        checks = [c for v in group for c in blocking_checks.get(v.name, ())]
        jobs.append(
            dg.define_asset_job(
                name(partitioning),
                selection=dg.AssetSelection.assets(*keys).without_checks() | dg.AssetSelection.checks(*checks),
                partitions_def=partitions_def_for(partitioning, partitions_start),
                description=description.format(partitioning.value),
            )
        )
    return jobs


def build_dbt_job() -> AssetJob:
    """`dbt build` of every model: the cleaned source tables of the feature views."""
    return dg.define_asset_job(
        DBT_BUILD_JOB,
        selection=dg.AssetSelection.groups("dbt"),
        description="Build and test the dbt models that the feature views read.",
    )
