"""Building the one ``Definitions`` of the platform from the feature view specs."""

from datetime import date

import dagster as dg

from feature_platform.defs.checks import build_consistency_check
from feature_platform.defs.dbt_assets import build_dbt_assets, dbt_resource
from feature_platform.defs.feature_view_assets import build_feature_view_assets
from feature_platform.defs.io_managers import offline_io_manager, online_io_manager
from feature_platform.defs.jobs import build_dbt_job, build_materialize_jobs
from feature_platform.defs.monitoring import (
    MONITORING_JOB,
    OnCallResource,
    build_alert_sensor,
    build_staleness_check,
    freshness_policy,
    on_call_resource,
)
from feature_platform.defs.ops import hourly_incremental_job, online_cleanup_job
from feature_platform.defs.partitions import first_partition_day, view_partitions_def
from feature_platform.defs.quality_checks import build_quality_checks
from feature_platform.defs.recovery import rebuild_online_job
from feature_platform.defs.resources import (
    FeaturePlatformResource,
    spark_resource,
    warehouse_resource,
)
from feature_platform.defs.schedules import VALIDATION_JOB, build_schedules
from feature_platform.defs.sensors import build_late_data_sensor


def build_definitions(
    platform: FeaturePlatformResource | None = None,
    *,
    partitions_start: date | None = None,
    include_dbt: bool = True,
    on_call: OnCallResource | None = None,
) -> dg.Definitions:
    """Assets, checks, jobs, schedules, sensors and resources for every feature view of
    the platform's registry.

    ``platform`` defaults to a resource that reads its settings from the environment when
    a run starts. ``partitions_start`` defaults to :func:`first_partition_day`. ``include_dbt=False``
    leaves the dbt models out (a deployment whose source tables are built elsewhere).
    ``on_call`` says where alerts go (default: from the environment when the sensor runs).
    """
    platform = platform or FeaturePlatformResource()
    views = platform.feature_registry.views
    partitions_start = partitions_start or first_partition_day(platform.settings)
    assets: list[dg.AssetsDefinition] = []
    blocking_checks: dict[str, list[dg.AssetChecksDefinition]] = {}
    for view in views:
        assets += build_feature_view_assets(view, partitions_start, freshness_policy(view))
        blocking_checks[view.name] = build_quality_checks(view, view_partitions_def(view, partitions_start))
    online_views = [v for v in views if v.online]
    consistency_checks = [build_consistency_check(v) for v in online_views]
    staleness_checks = [build_staleness_check(v) for v in online_views]
    materialize_jobs = build_materialize_jobs(views, partitions_start, blocking_checks)
    validation_job = dg.define_asset_job(
        VALIDATION_JOB,
        selection=dg.AssetSelection.checks(*consistency_checks),
        description="Weekly: every view's online values against the offline point-in-time answer.",
    )
    monitoring_job = dg.define_asset_job(
        MONITORING_JOB,
        selection=dg.AssetSelection.checks(*staleness_checks),
        description="Staleness metrics of every view, against its freshness tier.",
    )
    jobs: list[object] = [
        *materialize_jobs, validation_job, monitoring_job, hourly_incremental_job, online_cleanup_job,
        rebuild_online_job,
    ]
    resources: dict[str, object] = {
        "feature_platform": platform,
        "offline_io_manager": offline_io_manager,
        "online_io_manager": online_io_manager,
        "on_call": on_call or on_call_resource(),
        "warehouse": warehouse_resource(platform.settings),
        "pyspark": spark_resource(),
    }
    if include_dbt:
        assets.append(build_dbt_assets(views))
        jobs.append(build_dbt_job())
        resources["dbt"] = dbt_resource()
    return dg.Definitions(
        assets=assets,
        asset_checks=[c for checks in blocking_checks.values() for c in checks] + consistency_checks + staleness_checks,
        jobs=jobs,  # type: ignore[arg-type]
        schedules=build_schedules(views, materialize_jobs, include_dbt=include_dbt),
        sensors=[build_late_data_sensor(views, materialize_jobs), build_alert_sensor(online_views)],
        resources=resources,
    )
