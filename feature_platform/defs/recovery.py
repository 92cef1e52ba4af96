"""Recovery jobs: rebuild the online store from the offline store after it lost data."""

from collections.abc import Iterator

import dagster as dg

from feature_platform.defs.feature_view_assets import online_key
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.materialization.rebuild import RebuildOptions, rebuild_online
from feature_platform.specs.durations import human_duration

REBUILD_JOB = "rebuild_online_job"
_DEFAULTS = RebuildOptions()


class RebuildConfig(dg.Config):
    """Which views to rebuild (default: every online view) and how hard to load Redis."""

    views: list[str] | None = None
    fresh: bool = False
    range_entities: int = _DEFAULTS.range_entities
    workers: int = _DEFAULTS.workers
    max_rows_per_s: float = _DEFAULTS.max_rows_per_s
    min_rows_per_s: float = _DEFAULTS.min_rows_per_s
    max_read_p99_ms: float = _DEFAULTS.max_read_p99_ms


@dg.op(out={})
def rebuild_online_op(
    context: dg.OpExecutionContext, feature_platform: FeaturePlatformResource, config: RebuildConfig
) -> Iterator[dg.AssetObservation]:
    """Rebuild the latest online values of the views from the offline store, most critical
    tier first, resuming an interrupted rebuild's finished ranges."""
    registry = feature_platform.feature_registry
    views = [registry.view(n) for n in config.views] if config.views else registry.views
    options = RebuildOptions(
        range_entities=config.range_entities, workers=config.workers, max_rows_per_s=config.max_rows_per_s,
        min_rows_per_s=config.min_rows_per_s, max_read_p99_ms=config.max_read_p99_ms,
    )
    result = rebuild_online(
        views, feature_platform.offline_store(), feature_platform.online_store(), feature_platform.settings.data_dir,
        options=options, fresh=config.fresh, log=context.log.info,
    )
    for view in result.views:
        yield dg.AssetObservation(
            asset_key=online_key(registry.view(view.view)),
            metadata={
                "mode": "rebuild",
                "rebuild_id": result.rebuild_id,
                "entities": view.entities,
                "ranges": view.ranges,
                "ranges_resumed": len(view.ranges_skipped),
                "written": view.written,
                "skipped_not_newer": view.skipped_not_newer,
                "duration": human_duration(view.seconds),
            },
        )


@dg.job(name=REBUILD_JOB, description="Disaster recovery: rebuild the online store from the offline store.")
def rebuild_online_job() -> None:
    """The rebuild of every (or the configured) online view."""
    rebuild_online_op()
