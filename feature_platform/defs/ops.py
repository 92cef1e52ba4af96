"""Op jobs that are not asset materializations: incremental publish and online cleanup."""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from feature_platform.defs.feature_view_assets import online_key
from feature_platform.defs.metadata import dagster_metadata
from feature_platform.defs.resources import FeaturePlatformResource, open_warehouse
from feature_platform.materialization.checkpoints import CheckpointStore
from feature_platform.materialization.consistency import offline_entity_keys
from feature_platform.materialization.incremental import (
    DEFAULT_REPROCESSING_WINDOW,
    publish_incremental,
)
from feature_platform.materialization.online_loss import (
    OnlineStoreLostError,
    detect_loss,
    record_publish,
)
from feature_platform.specs import FeatureView

INCREMENTAL_JOB = "hourly_incremental_job"
CLEANUP_JOB = "online_cleanup_job"


class IncrementalConfig(dg.Config):
    """Which views to publish (default: every online view) and how far to re-read."""

    views: list[str] | None = None
    reprocessing_window_minutes: int = int(DEFAULT_REPROCESSING_WINDOW.total_seconds() // 60)


def _selected(platform: FeaturePlatformResource, names: Sequence[str] | None) -> list[FeatureView]:
    """The named views, or every online view that reads a table. Stream views are kept
    current by the stream processor, and their offline store only holds what the daily
    correction wrote, so neither the incremental publish nor the cleanup of entities the
    offline store does not know applies to them."""
    registry = platform.feature_registry
    views = [registry.view(n) for n in names] if names else [v for v in registry.views if not v.is_stream]
    return [v for v in views if v.online]


def publish_views(
    context: dg.OpExecutionContext,
    platform: FeaturePlatformResource,
    warehouse: DuckDBResource,
    views: Sequence[FeatureView],
    reprocessing_window: timedelta,
) -> Iterator[tuple[FeatureView, dict[str, object]]]:
    """Publish rows created since each view's checkpoint; yields each view with the facts
    of its publish (rows read, written, kept newer, the new checkpoint). When the online
    store lost any of the views, nothing is published and the op fails, saying to rebuild."""
    checkpoints = CheckpointStore(platform.settings.checkpoints_dir)
    records = platform.publish_records()
    online, offline = platform.online_store(), platform.offline_store()
    # The checkpoint says "published up to here"; after a loss that is no longer true.
    lost = [r for r in (detect_loss(v, offline, online, records) for v in views) if r.lost]
    if lost:
        # Terminal: retrying cannot bring the data back, a rebuild does.
        raise dg.Failure(description=str(OnlineStoreLostError(lost)), allow_retries=False)
    with open_warehouse(warehouse) as con:
        for view in views:
            result = publish_incremental(
                con, view, online, checkpoints,
                now=datetime.now(UTC), reprocessing_window=reprocessing_window,
            )
            record_publish(view, online, offline, records, context.run_id, result.write.entities)
            context.log.info(
                f"{view.name}: read {result.rows_read} rows created after {result.read_after}; "
                f"wrote {result.write.written}, unchanged {result.write.unchanged}, "
                f"kept newer {result.write.skipped_not_newer}; "
                f"checkpoint {result.checkpoint_before} -> {result.checkpoint_after}"
            )
            yield view, {
                "mode": "incremental",
                "rows_read": result.rows_read,
                "written": result.write.written,
                "unchanged": result.write.unchanged,
                "skipped_not_newer": result.write.skipped_not_newer,
                "checkpoint": str(result.checkpoint_after),
            }


@dg.op(out={}, retry_policy=dg.RetryPolicy(max_retries=2, delay=2.0))
def publish_incremental_op(
    context: dg.OpExecutionContext,
    feature_platform: FeaturePlatformResource,
    warehouse: DuckDBResource,
    config: IncrementalConfig,
) -> Iterator[dg.AssetObservation]:
    """Publish rows created since each view's checkpoint to the online store."""
    views = _selected(feature_platform, config.views)
    window = timedelta(minutes=config.reprocessing_window_minutes)
    for view, facts in publish_views(context, feature_platform, warehouse, views, window):
        yield dg.AssetObservation(asset_key=online_key(view), metadata=dagster_metadata(facts))


class CleanupConfig(dg.Config):
    """Which views to clean (default: every online view)."""

    views: list[str] | None = None
    remove_unknown_entities: bool = True


@dg.op(out={})
def cleanup_online_op(
    context: dg.OpExecutionContext, feature_platform: FeaturePlatformResource, config: CleanupConfig
) -> Iterator[dg.AssetObservation]:
    """Remove expired values and entities the offline store no longer knows."""
    offline = feature_platform.offline_store()
    for view in _selected(feature_platform, config.views):
        keys = offline_entity_keys(view, offline) if config.remove_unknown_entities else None
        result = feature_platform.online_store().cleanup(view, existing_keys=keys)
        context.log.info(f"{view.name}: {result}")
        yield dg.AssetObservation(
            asset_key=online_key(view),
            metadata={
                "mode": "cleanup",
                "scanned": result.scanned,
                "removed_expired": result.removed_expired,
                "removed_gone": result.removed_gone,
                "examples": [dict(e) for e in result.examples],
            },
        )


@dg.job(name=INCREMENTAL_JOB, description="Publish rows that arrived since the last checkpoint to Redis.")
def hourly_incremental_job() -> None:
    """The incremental publish of every online view."""
    publish_incremental_op()


@dg.job(name=CLEANUP_JOB, description="Active cleanup of the online store: expired and gone entities.")
def online_cleanup_job() -> None:
    """The active cleanup of every online view."""
    cleanup_online_op()
