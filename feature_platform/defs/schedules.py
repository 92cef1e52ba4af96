"""Schedules generated from each view's freshness tier (``materialization/cadence.py``).

- NEAR_REAL_TIME: a micro-batch every 5 minutes (`dbt build` of their models, then their
  incremental publish);
- BATCH: `dbt build` every hour at :00, the incremental publish at :15, and the daily full run;
- STATIC: the daily run (the previous day's partition at 02:00);
- REAL_TIME: streamed by the stream processor; the daily batch correction at 02:30 recomputes
  the previous day's partitions from every landed event;
- offline partitions: every daily view's previous day at 02:00 (the full recompute), every
  hourly view's previous hour at :10;
- housekeeping: online cleanup daily at 05:00, validation Mondays at 04:00, staleness
  metrics every 15 minutes.
"""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeAlias

import dagster as dg

from feature_platform.defs.jobs import (
    DBT_BUILD_JOB,
    AssetJob,
    materialize_job_name,
    stream_correction_job_name,
)
from feature_platform.defs.microbatch import build_microbatch_job
from feature_platform.defs.monitoring import MONITORING_JOB
from feature_platform.defs.ops import CLEANUP_JOB, INCREMENTAL_JOB
from feature_platform.defs.streams import build_stream_correction_schedule
from feature_platform.errors import ConfigError
from feature_platform.materialization.cadence import RefreshMode, cadence_for, cron_for
from feature_platform.specs import FeatureView, FreshnessTier, Partitioning

PartitionedSchedule: TypeAlias = Any
"""What ``dg.build_schedule_from_partitioned_job`` makes of an asset job (a schedule resolved
with the job); like :data:`~feature_platform.defs.jobs.AssetJob`, Dagster has no public name for it."""
Schedule: TypeAlias = dg.ScheduleDefinition | PartitionedSchedule


VALIDATION_JOB = "weekly_validation_job"
DAILY_FULL_SCHEDULE = "daily_full_materialization"
HOURLY_PARTITION_SCHEDULE = "hourly_partition_materialization"
HOURLY_DBT_SCHEDULE = "hourly_dbt_build"
HOURLY_INCREMENTAL_SCHEDULE = "hourly_incremental"
HOURLY_PARTITION_OFFSET = timedelta(minutes=10)


def microbatch_schedule_name(tier: FreshnessTier) -> str:
    """The schedule of a tier's micro-batch."""
    return f"{FreshnessTier(tier).value}_microbatch"


def build_schedules(
    views: Sequence[FeatureView],
    materialize_jobs: Sequence[AssetJob],
    correction_jobs: Sequence[AssetJob] = (),
    *,
    include_dbt: bool,
) -> list[Schedule]:
    """Every schedule of the platform, from the tiers of ``views`` (see the module docstring);
    ``correction_jobs`` are the stream views' batch correction jobs, one per partitioning."""
    by_tier: dict[FreshnessTier, list[FeatureView]] = {}
    for view in views:
        by_tier.setdefault(view.tier, []).append(view)
    schedules: list[Schedule] = [*_partition_schedules(materialize_jobs)]
    batch = cadence_for(FreshnessTier.BATCH)
    if include_dbt:
        capture = cron_for(batch.every, batch.offset - batch.publish_lag)
        schedules.append(_schedule(HOURLY_DBT_SCHEDULE, DBT_BUILD_JOB, capture))
    batch_views = [v.name for v in by_tier.get(FreshnessTier.BATCH, []) if v.online]
    if batch_views:
        schedules.append(
            _schedule(
                HOURLY_INCREMENTAL_SCHEDULE, INCREMENTAL_JOB, batch.cron,
                run_config={"ops": {"publish_incremental_op": {"config": {"views": batch_views}}}},
            )
        )
    for tier, group in by_tier.items():
        cadence = cadence_for(tier)
        online = [v for v in group if v.online]
        if cadence.mode is RefreshMode.MICRO_BATCH and online:
            job = build_microbatch_job(tier, online, include_dbt=include_dbt)
            schedules.append(
                dg.ScheduleDefinition(
                    name=microbatch_schedule_name(tier), job=job, cron_schedule=cadence.cron,
                    execution_timezone="UTC",
                )
            )
    for correction in correction_jobs:
        partitioning = next(p for p in Partitioning if stream_correction_job_name(p) == correction.name)
        schedules.append(build_stream_correction_schedule(correction, partitioning))
    schedules += [
        _schedule("daily_online_cleanup", CLEANUP_JOB, "0 5 * * *"),
        _schedule("weekly_validation", VALIDATION_JOB, "0 4 * * 1"),
        _schedule("freshness_monitoring", MONITORING_JOB, "*/15 * * * *"),
    ]
    return schedules


def _partition_schedules(
    materialize_jobs: Sequence[AssetJob],
) -> list[Schedule]:
    """The previous partition of every view: daily at the daily tier's hour, hourly at :10."""
    daily = cadence_for(FreshnessTier.STATIC).offset
    schedules: list[Schedule] = []
    for job in materialize_jobs:
        if job.name == materialize_job_name(Partitioning.DAILY):
            schedule = dg.build_schedule_from_partitioned_job(
                job, name=DAILY_FULL_SCHEDULE, hour_of_day=daily.seconds // 3600, minute_of_hour=daily.seconds // 60 % 60
            )
        else:
            schedule = dg.build_schedule_from_partitioned_job(
                job, name=HOURLY_PARTITION_SCHEDULE, minute_of_hour=HOURLY_PARTITION_OFFSET.seconds // 60
            )
        schedules.append(schedule)
    return schedules


def _schedule(
    name: str, job_name: str, cron: str | None, run_config: dict[str, object] | None = None
) -> dg.ScheduleDefinition:
    if cron is None:
        raise ConfigError(f"Schedule {name!r} needs a cron expression")
    return dg.ScheduleDefinition(
        name=name, job_name=job_name, cron_schedule=cron, execution_timezone="UTC", run_config=run_config
    )
