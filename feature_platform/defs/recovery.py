"""Recovery jobs: rebuild the online store from the offline store after it lost data, and
swap a corrected view into a new online generation."""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg

from feature_platform.defs.feature_view_assets import online_key
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.materialization.generations import (
    DEFAULT_SAMPLE_SIZE,
    SWAP_MAX_MISMATCH_RATE,
    publish_generation,
)
from feature_platform.materialization.rebuild import RebuildOptions, rebuild_online
from feature_platform.specs.durations import human_duration

REBUILD_JOB = "rebuild_online_job"
SWAP_JOB = "swap_generation_job"
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


class SwapConfig(dg.Config):
    """The view to swap, how many entities to validate, and how long the old generation
    stays for a rollback (None: the setting ``online_write.generation_retention``)."""

    view: str
    sample_size: int = DEFAULT_SAMPLE_SIZE
    max_mismatch_rate: float = SWAP_MAX_MISMATCH_RATE
    retention_hours: float | None = None


@dg.op(out={})
def swap_generation_op(
    context: dg.OpExecutionContext, feature_platform: FeaturePlatformResource, config: SwapConfig
) -> Iterator[dg.AssetObservation]:
    """Publish the view's offline values into a new online generation, validate a sample,
    flip readers to it (``feature-platform online publish-generation``)."""
    view = feature_platform.feature_registry.view(config.view)
    settings = feature_platform.settings
    retention = (
        settings.online_write.generation_retention
        if config.retention_hours is None
        else timedelta(hours=config.retention_hours)
    )
    swap = publish_generation(
        view, feature_platform.offline_store(), feature_platform.online_store(), sample_size=config.sample_size,
        max_mismatch_rate=config.max_mismatch_rate, retention=retention, log=context.log.info,
    )
    yield dg.AssetObservation(
        asset_key=online_key(view),
        metadata={
            "mode": "generation swap",
            "generation": swap.loaded.generation,
            "previous_generation": swap.loaded.served,
            "entities": swap.loaded.entities,
            "validated_entities": swap.report.checked,
            "previous_kept_until": swap.state.previous_until.isoformat() if swap.state.previous_until else "",
        },
    )


@dg.job(name=SWAP_JOB, description="Bug fix with atomic swap: a view's corrected values in a new online generation.")
def swap_generation_job() -> None:
    """The swap of the configured view."""
    swap_generation_op()
