"""Building the one ``Definitions`` of the platform from the feature view specs."""

from datetime import date

import dagster as dg

from feature_platform.defs.checks import build_consistency_check
from feature_platform.defs.dbt_assets import build_dbt_assets, dbt_resource
from feature_platform.defs.feature_view_assets import (
    build_feature_view_assets,
    build_stream_source_assets,
)
from feature_platform.defs.hot_shards import build_hot_shard_sensor
from feature_platform.defs.io_managers import offline_io_manager, online_io_manager
from feature_platform.defs.jobs import (
    AssetJob,
    build_dbt_job,
    build_materialize_jobs,
    build_stream_correction_jobs,
)
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
from feature_platform.defs.recovery import rebuild_online_job, swap_generation_job
from feature_platform.defs.resources import (
    FeaturePlatformResource,
    spark_resource,
    warehouse_resource,
)
from feature_platform.defs.schedules import VALIDATION_JOB, build_schedules
from feature_platform.defs.sensors import build_late_data_sensor
from feature_platform.defs.spark_stream import spark_stream_catch_up_job
from feature_platform.defs.streams import build_stream_health_sensor
from feature_platform.specs import FeatureView


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
    assets: list[dg.AssetsDefinition | dg.AssetSpec] = [*build_stream_source_assets(views)]
    blocking_checks: dict[str, list[dg.AssetChecksDefinition]] = {}
    for view in views:
        assets += build_feature_view_assets(view, partitions_start, freshness_policy(view))
        blocking_checks[view.name] = build_quality_checks(view, view_partitions_def(view, partitions_start))
    online_views = [v for v in views if v.online]
    # A stream view's offline store holds only the partitions the daily correction wrote, so
    # the weekly comparison at "now" covers the views published from tables.
    consistency_checks = [build_consistency_check(v) for v in online_views if not v.is_stream]
    staleness_checks = [build_staleness_check(v) for v in online_views]
    materialize_jobs = build_materialize_jobs(views, partitions_start, blocking_checks)
    correction_jobs = build_stream_correction_jobs(views, partitions_start, blocking_checks)
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
        *materialize_jobs, *correction_jobs, validation_job, monitoring_job, hourly_incremental_job,
        online_cleanup_job, rebuild_online_job, swap_generation_job, spark_stream_catch_up_job,
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
        schedules=build_schedules(views, materialize_jobs, correction_jobs, include_dbt=include_dbt),
        sensors=_sensors(views, materialize_jobs, online_views),
        resources=resources,
    )


def _sensors(
    views: list[FeatureView], materialize_jobs: list[AssetJob], online_views: list[FeatureView]
) -> list[dg.SensorDefinition]:
    """Late data for the views that read tables, alerts for every online view, hot Redis
    shards, and the stream health sensor when there are stream views."""
    batch_views = [v for v in views if not v.is_stream]
    # A stream view's staleness is its processor's lag (SEMANTICS.md): the stream health
    # sensor measures and pages it, so the freshness alerts cover the other views.
    alerted = [v for v in online_views if not v.is_stream]
    sensors = [
        build_late_data_sensor(batch_views, materialize_jobs), build_alert_sensor(alerted), build_hot_shard_sensor(),
    ]
    if len(batch_views) < len(views):
        sensors.append(build_stream_health_sensor(views))
    return sensors
