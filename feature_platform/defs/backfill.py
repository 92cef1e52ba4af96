"""Runs the CLI starts in the platform's Dagster instance: resumable backfills (only the
partitions not yet published, one run per range), Feast's ``materialize`` over all views,
and the incremental publish."""

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from feature_platform.defs.feature_view_assets import offline_key, online_key
from feature_platform.defs.jobs import (
    materialize_job_name,
    partition_range_tags,
    views_by_partitioning,
)
from feature_platform.defs.ops import INCREMENTAL_JOB
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.errors import ConfigError, FeaturePlatformError
from feature_platform.materialization.backfill import missing_ranges, partition_keys
from feature_platform.materialization.backfill_window import OffPeak
from feature_platform.materialization.online_loss import OnlineStoreLostError, detect_loss
from feature_platform.specs import FeatureView

Progress = Callable[[int, int], None]
"""Called with (partitions done, partitions in all) as runs finish: a progress bar."""

CLI_TRIGGER_TAG = "feature_platform/trigger"


def run_backfill(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    view: FeatureView,
    start: datetime,
    end: datetime,
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
    progress: Progress | None = None,
    off_peak: OffPeak | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[tuple[str, str]]:
    """Materialize ``view`` offline and online for the partitions in ``[start, end)``.

    Partitions whose online asset is already materialized are skipped unless ``force``;
    each contiguous run of the rest is one single-run backfill. Returns the ranges run.
    When the online store lost the view's data, that shortcut is refused
    (OnlineStoreLostError, which says to run ``rebuild-online``). ``off_peak``: a large
    backfill launched at ``now`` outside the deployment's window waits for it (``sleep``)
    or runs with its online writes held to the reduced rate, and says so.
    """
    keys = partition_keys(view.partitioning, start, end)
    platform = (defs.resources or {}).get("feature_platform")
    if not isinstance(platform, FeaturePlatformResource):
        raise ConfigError("The definitions have no 'feature_platform' resource; build them with build_definitions")
    if not force:
        # "Already published" is only true while the online store still holds it.
        loss = detect_loss(view, platform.offline_store(), platform.online_store(), platform.publish_records())
        if loss.lost:
            raise OnlineStoreLostError([loss])
    done = set() if force else set(instance.get_materialized_partitions(online_key(view)))
    ranges = missing_ranges(keys, done)
    skipped = len(keys) - sum(keys.index(last) - keys.index(first) + 1 for first, last in ranges)
    log(f"{view.name}: {len(keys)} partitions in window, {skipped} already done, {len(ranges)} run(s) to go")
    run_config = _off_peak_run_config(platform, off_peak, len(keys) - skipped, view, now, sleep, log)
    job = defs.resolve_job_def(materialize_job_name(view.partitioning))
    todo, done_now = len(keys) - skipped, 0
    for number, (first, last) in enumerate(ranges, start=1):
        log(f"{view.name}: run {number}/{len(ranges)}: partitions {first} ... {last}")
        result = job.execute_in_process(
            instance=instance,
            tags={**partition_range_tags(first, last), CLI_TRIGGER_TAG: "backfill"},
            asset_selection=[offline_key(view), online_key(view)],
            run_config=run_config,
            raise_on_error=False,
        )
        if not result.success:
            raise FeaturePlatformError(
                f"Backfill of {view.name} partitions {first} ... {last} failed (run {result.run_id}); "
                "re-run the same command to resume from the partitions not yet done"
            )
        done_now += keys.index(last) - keys.index(first) + 1
        if progress is not None:
            progress(done_now, todo)
    log(f"{view.name}: backfill done")
    return ranges


def planned_partitions(
    defs: dg.Definitions, views: Sequence[FeatureView], start: datetime, end: datetime
) -> list[tuple[list[FeatureView], list[str]]]:
    """Per partitioning, its selected views and the keys of its partitions in ``[start, end)``
    that the job's partitions define (none before the first partition or in the future)."""
    plan = []
    for partitioning, group in views_by_partitioning(views).items():
        partitions = defs.resolve_job_def(materialize_job_name(partitioning)).partitions_def
        assert partitions is not None  # the materialize jobs are partitioned
        defined = set(partitions.get_partition_keys())
        keys = [k for k in partition_keys(partitioning, start, end) if k in defined]
        if keys:
            plan.append((group, keys))
    return plan


def materialize_views(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    views: Sequence[FeatureView],
    start: datetime,
    end: datetime,
    *,
    progress: Progress | None = None,
) -> list[str]:
    """Materialize ``views`` offline and online for every partition in ``[start, end)``,
    done or not (Feast's ``materialize``): one single-run range run per partitioning.
    Returns a line per run."""
    plan = planned_partitions(defs, views, start, end)
    if not plan:
        raise FeaturePlatformError(
            f"No partitions of the selected views start in [{start.isoformat()}, {end.isoformat()}); "
            "check the dates against the views' first partition and now"
        )
    total, finished, lines = sum(len(g) * len(k) for g, k in plan), 0, []
    for group, keys in plan:
        job = defs.resolve_job_def(materialize_job_name(group[0].partitioning))
        result = job.execute_in_process(
            instance=instance,
            tags={**partition_range_tags(keys[0], keys[-1]), CLI_TRIGGER_TAG: "materialize"},
            asset_selection=[key for view in group for key in (offline_key(view), online_key(view))],
            raise_on_error=False,
        )
        names = ", ".join(v.name for v in group)
        if not result.success:
            raise FeaturePlatformError(
                f"Materializing {names} for partitions {keys[0]} ... {keys[-1]} failed (run {result.run_id}); "
                "its logs are in the Dagster UI"
            )
        finished += len(group) * len(keys)
        if progress is not None:
            progress(finished, total)
        lines.append(f"{names}: partitions {keys[0]} ... {keys[-1]} ({len(keys)}) in run {result.run_id}")
    return lines


def publish_incrementally(
    defs: dg.Definitions, instance: dg.DagsterInstance, views: Sequence[str] | None = None
) -> list[str]:
    """One run of the incremental publish job for ``views`` (default: every online view).
    Returns a line per view: rows read and written, and the checkpoint's move."""
    op_config = {"views": list(views)} if views else {}
    result = defs.resolve_job_def(INCREMENTAL_JOB).execute_in_process(
        instance=instance,
        run_config={"ops": {"publish_incremental_op": {"config": op_config}}},
        tags={CLI_TRIGGER_TAG: "materialize-incremental"},
        raise_on_error=False,
    )
    if not result.success:
        raise FeaturePlatformError(f"The incremental publish failed (run {result.run_id}); its logs are in the Dagster UI")
    lines = []
    for observation in result.asset_observations_for_node("publish_incremental_op"):
        meta = {k: v.value for k, v in observation.metadata.items()}
        lines.append(
            f"{observation.asset_key.to_user_string()}: read {meta.get('rows_read')}, wrote {meta.get('written')}, "
            f"checkpoint {meta.get('checkpoint')}"
        )
    return lines


def _off_peak_run_config(
    platform: FeaturePlatformResource,
    off_peak: OffPeak | None,
    partitions: int,
    view: FeatureView,
    now: datetime | None,
    sleep: Callable[[float], None],
    log: Callable[[str], None],
) -> dict[str, Any] | None:
    """Wait for the window, or the run config that holds the online writes to the reduced rate."""
    if off_peak is None:
        return None
    rate = off_peak.hold(partitions, f"The backfill of {view.name}", log=log, now=now, sleep=sleep)
    if rate is None:
        return None
    # Run config replaces the resource's config as a whole: carry its other fields along.
    config = platform.model_dump(exclude_none=True)
    current = platform.settings.online_write.rate_limit
    config["online_write_rate_limit"] = rate if current is None else min(current, rate)
    return {"resources": {"feature_platform": {"config": config}}}
