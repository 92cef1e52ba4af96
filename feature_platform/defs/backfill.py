"""Resumable backfills from the CLI: only the partitions not yet published, one run per range."""

from collections.abc import Callable
from datetime import datetime

import dagster as dg

from feature_platform.defs.feature_view_assets import offline_key, online_key
from feature_platform.defs.jobs import materialize_job_name, partition_range_tags
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.errors import ConfigError, FeaturePlatformError
from feature_platform.materialization.backfill import missing_ranges, partition_keys
from feature_platform.materialization.online_loss import OnlineStoreLostError, detect_loss
from feature_platform.specs import FeatureView


def run_backfill(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    view: FeatureView,
    start: datetime,
    end: datetime,
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> list[tuple[str, str]]:
    """Materialize ``view`` offline and online for the partitions in ``[start, end)``.

    Partitions whose online asset is already materialized are skipped unless ``force``;
    each contiguous run of the rest is one single-run backfill. Returns the ranges run.
    When the online store lost the view's data, that shortcut is refused
    (OnlineStoreLostError, which says to run ``rebuild-online``).
    """
    keys = partition_keys(view.partitioning, start, end)
    if not force:
        # "Already published" is only true while the online store still holds it.
        platform = (defs.resources or {}).get("feature_platform")
        if not isinstance(platform, FeaturePlatformResource):
            raise ConfigError("The definitions have no 'feature_platform' resource; build them with build_definitions")
        loss = detect_loss(view, platform.offline_store(), platform.online_store(), platform.publish_records())
        if loss.lost:
            raise OnlineStoreLostError([loss])
    done = set() if force else set(instance.get_materialized_partitions(online_key(view)))
    ranges = missing_ranges(keys, done)
    skipped = len(keys) - sum(keys.index(last) - keys.index(first) + 1 for first, last in ranges)
    log(f"{view.name}: {len(keys)} partitions in window, {skipped} already done, {len(ranges)} run(s) to go")
    job = defs.resolve_job_def(materialize_job_name(view.partitioning))
    for number, (first, last) in enumerate(ranges, start=1):
        log(f"{view.name}: run {number}/{len(ranges)}: partitions {first} ... {last}")
        result = job.execute_in_process(
            instance=instance,
            tags={**partition_range_tags(first, last), "feature_platform/trigger": "backfill"},
            asset_selection=[offline_key(view), online_key(view)],
            raise_on_error=False,
        )
        if not result.success:
            raise FeaturePlatformError(
                f"Backfill of {view.name} partitions {first} ... {last} failed (run {result.run_id}); "
                "re-run the same command to resume from the partitions not yet done"
            )
    log(f"{view.name}: backfill done")
    return ranges
