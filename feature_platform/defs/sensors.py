"""The late-data sensor: correction runs for exactly the partitions whose source changed."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from feature_platform.defs.feature_view_assets import offline_key, online_key
from feature_platform.defs.jobs import AssetJob, materialize_job_name
from feature_platform.defs.resources import FeaturePlatformResource, open_warehouse
from feature_platform.errors import FeaturePlatformError
from feature_platform.materialization.late_data import find_late_partitions
from feature_platform.specs import FeatureView

LATE_DATA_SENSOR = "late_data_sensor"
DEFAULT_LATE_LOOKBACK = timedelta(days=3)


def build_late_data_sensor(
    views: Sequence[FeatureView],
    jobs: Sequence[AssetJob],
    lookback: timedelta = DEFAULT_LATE_LOOKBACK,
) -> dg.SensorDefinition:
    """One sensor for every view: compares each materialized partition of the last
    ``lookback`` with its source and requests a correction run per changed partition.

    The run key names the view, partition and the source rows' fingerprint, so one late
    batch is corrected once; the cursor remembers requested keys for twice the lookback.
    """

    @dg.sensor(
        name=LATE_DATA_SENSOR,
        jobs=list(jobs),
        minimum_interval_seconds=300,
        description="Requests correction runs for partitions whose source rows arrived late or changed.",
    )
    def _late_data_sensor(
        context: dg.SensorEvaluationContext, feature_platform: FeaturePlatformResource, warehouse: DuckDBResource
    ) -> dg.SensorResult | dg.SkipReason:
        requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        now = datetime.now(UTC)
        try:
            with open_warehouse(warehouse) as con:
                run_requests = _late_requests(context, con, feature_platform, views, requested, now, lookback)
        except (FeaturePlatformError, duckdb.Error) as exc:
            # The warehouse is missing or dbt holds its write lock: look again next tick.
            return dg.SkipReason(f"Warehouse not readable now: {exc}")
        horizon = now - 2 * lookback
        requested = {k: t for k, t in requested.items() if datetime.fromisoformat(t) >= horizon}
        if not run_requests:
            return dg.SensorResult(skip_reason="No late data", cursor=json.dumps(requested))
        return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(requested))

    return _late_data_sensor


def _late_requests(
    context: dg.SensorEvaluationContext,
    con: duckdb.DuckDBPyConnection,
    platform: FeaturePlatformResource,
    views: Sequence[FeatureView],
    requested: dict[str, str],
    now: datetime,
    lookback: timedelta,
) -> list[dg.RunRequest]:
    """One run request per changed partition not requested before (recorded in ``requested``)."""
    run_requests = []
    offline = platform.offline_store()
    for view in views:
        for late in find_late_partitions(con, view, offline, since=now - lookback, until=now):
            if late.run_key in requested:
                continue
            context.log.info(f"{view.name} {late.partition_key}: source {late.source} != offline {late.offline}")
            run_requests.append(
                dg.RunRequest(
                    run_key=late.run_key,
                    job_name=materialize_job_name(view.partitioning),
                    partition_key=late.partition_key,
                    asset_selection=[offline_key(view), online_key(view)],
                    tags={"feature_platform/trigger": "late_data", "feature_platform/view": view.name},
                )
            )
            requested[late.run_key] = now.isoformat()
    return run_requests
