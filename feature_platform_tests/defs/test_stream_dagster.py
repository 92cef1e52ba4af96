"""Stream views in Dagster: lineage, the daily batch correction, what the batch jobs skip."""

from datetime import UTC, datetime

import dagster as dg

from feature_platform.definitions import defs
from feature_platform.defs.jobs import partition_range_tags
from feature_platform.defs.streams import STREAM_CORRECTION_SCHEDULE

STREAM_VIEW = "user_realtime_activity"


def test_stream_view_lineage_is_source_then_view_then_online_store() -> None:
    graph = defs.resolve_asset_graph()
    source = graph.get(dg.AssetKey(["stream", "page_events"]))
    offline = graph.get(dg.AssetKey(STREAM_VIEW))
    online = graph.get(dg.AssetKey(["online", STREAM_VIEW]))
    assert not source.is_materializable  # the Redis log itself: observed, not built
    assert offline.parent_keys == {source.key}
    assert online.parent_keys == {offline.key}
    assert offline.partitions_def == online.partitions_def


def test_the_correction_job_owns_the_stream_views_and_the_batch_jobs_do_not() -> None:
    daily = defs.resolve_job_def("daily_feature_views_job")
    correction = defs.resolve_job_def("daily_stream_correction_job")
    batch_keys = {k.to_user_string() for k in daily.asset_layer.executable_asset_keys}
    assert STREAM_VIEW not in batch_keys and f"online/{STREAM_VIEW}" not in batch_keys
    assert {k.to_user_string() for k in correction.asset_layer.executable_asset_keys} == {
        STREAM_VIEW, f"online/{STREAM_VIEW}",
    }


def test_the_daily_correction_runs_the_previous_day_at_0230() -> None:
    schedule = defs.resolve_schedule_def(STREAM_CORRECTION_SCHEDULE)
    assert schedule.cron_schedule == "30 2 * * *"
    with dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 2, 30, tzinfo=UTC)) as context:
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.tags.items() >= partition_range_tags("2026-11-25", "2026-11-25").items()
    assert request.job_name in (None, "daily_stream_correction_job")


def test_freshness_of_the_stream_view_follows_the_stream_online_and_the_correction_offline() -> None:
    graph = defs.resolve_asset_graph()
    online = graph.get(dg.AssetKey(["online", STREAM_VIEW])).freshness_policy
    offline = graph.get(dg.AssetKey(STREAM_VIEW)).freshness_policy
    assert online.warn_window.to_timedelta().total_seconds() == 120  # REAL_TIME: 2x its 1-minute promise
    assert offline.warn_window.to_timedelta().days == 2  # daily correction
