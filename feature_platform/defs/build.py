"""Building the one ``Definitions`` of the platform from the feature view specs."""

from __future__ import annotations

from datetime import date

import dagster as dg

from feature_platform.defs.dbt_assets import build_dbt_assets, dbt_resource
from feature_platform.defs.feature_view_assets import build_feature_view_assets
from feature_platform.defs.io_managers import OfflineStoreIOManager, RedisOnlineStoreIOManager
from feature_platform.defs.jobs import build_dbt_job, build_materialize_jobs
from feature_platform.defs.resources import FeaturePlatformResource


def build_definitions(
    platform: FeaturePlatformResource | None = None,
    *,
    partitions_start: date | None = None,
    include_dbt: bool = True,
) -> dg.Definitions:
    """Assets, jobs and resources for every feature view of the platform's registry.

    ``platform`` defaults to a resource that reads its settings from the environment when
    a run starts. ``partitions_start`` defaults to the settings'. ``include_dbt=False`` leaves the dbt models out (a deployment whose
    source tables are built elsewhere).
    """
    platform = platform or FeaturePlatformResource()
    views = platform.feature_registry.views
    partitions_start = partitions_start or platform.settings.partitions_start
    assets: list[dg.AssetsDefinition] = []
    for view in views:
        assets += build_feature_view_assets(view, partitions_start)
    jobs = build_materialize_jobs(views, partitions_start)
    resources: dict[str, object] = {
        "feature_platform": platform,
        "offline_io_manager": OfflineStoreIOManager(platform=platform),
        "online_io_manager": RedisOnlineStoreIOManager(platform=platform),
    }
    if include_dbt:
        assets.append(build_dbt_assets())
        jobs.append(build_dbt_job())
        resources["dbt"] = dbt_resource()
    return dg.Definitions(assets=assets, jobs=jobs, resources=resources)
