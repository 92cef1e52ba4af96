"""The hybrid schedule of the seed: daily full, hourly incremental, weekly validation."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from feature_platform.defs.jobs import DBT_BUILD_JOB, materialize_job_name
from feature_platform.defs.monitoring import MONITORING_JOB
from feature_platform.defs.ops import CLEANUP_JOB, INCREMENTAL_JOB
from feature_platform.specs import Partitioning

if TYPE_CHECKING:
    from dagster._core.definitions.partitions.partitioned_schedule import (
        UnresolvedPartitionedAssetScheduleDefinition,
    )
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


VALIDATION_JOB = "weekly_validation_job"


def build_schedules(
    materialize_jobs: Sequence["UnresolvedAssetJobDefinition"], *, include_dbt: bool
) -> list["dg.ScheduleDefinition | UnresolvedPartitionedAssetScheduleDefinition"]:
    """dbt hourly at :00; daily views' previous day at 02:00 UTC (full); hourly views' last
    hour at :10; incremental online publish at :15; cleanup daily at 05:00; validation
    Mondays at 04:00; staleness metrics every 15 minutes."""
    schedules: list[dg.ScheduleDefinition | UnresolvedPartitionedAssetScheduleDefinition] = []
    for job in materialize_jobs:
        if job.name == materialize_job_name(Partitioning.DAILY):
            schedules.append(
                dg.build_schedule_from_partitioned_job(
                    job, name="daily_full_materialization", hour_of_day=2, minute_of_hour=0
                )
            )
        else:
            schedules.append(
                dg.build_schedule_from_partitioned_job(job, name="hourly_partition_materialization", minute_of_hour=10)
            )
    if include_dbt:
        schedules.append(
            dg.ScheduleDefinition(name="hourly_dbt_build", job_name=DBT_BUILD_JOB, cron_schedule="0 * * * *", execution_timezone="UTC")
        )
    schedules += [
        dg.ScheduleDefinition(name="hourly_incremental", job_name=INCREMENTAL_JOB, cron_schedule="15 * * * *", execution_timezone="UTC"),
        dg.ScheduleDefinition(name="daily_online_cleanup", job_name=CLEANUP_JOB, cron_schedule="0 5 * * *", execution_timezone="UTC"),
        dg.ScheduleDefinition(name="weekly_validation", job_name=VALIDATION_JOB, cron_schedule="0 4 * * 1", execution_timezone="UTC"),
        dg.ScheduleDefinition(name="freshness_monitoring", job_name=MONITORING_JOB, cron_schedule="*/15 * * * *", execution_timezone="UTC"),
    ]
    return schedules
