"""Stream views in Dagster: lineage, the daily batch correction, what the batch jobs skip."""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from feature_platform.alerting import Alert
from feature_platform.definitions import defs
from feature_platform.defs.jobs import partition_range_tags
from feature_platform.defs.streams import (
    STREAM_CORRECTION_SCHEDULE,
    StreamHealthConfig,
    StreamHealthState,
    StreamMaterializationReporter,
    evaluate_stream_health,
)
from feature_platform.feature_repo.views import user_realtime_activity
from feature_platform.monitoring import AlertLevel

if TYPE_CHECKING:
    from feature_platform.streaming.health import PartitionHealth

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


def _partition(p: int, *, lag: int = 0, throughput: float = 0.0, alive: bool = True, events: int = 100,
               dead: int = 0, applied_ago: timedelta | None = timedelta(seconds=1)) -> "PartitionHealth":
    from feature_platform.streaming.health import PartitionHealth

    return PartitionHealth(
        source="page_events", partition=p, backlog=lag, lag=lag, pending=0, events=events, dead_lettered=dead,
        replayed=0, shed={}, watermark=NOW - timedelta(minutes=3), max_event_time=NOW - timedelta(minutes=1),
        last_applied_at=NOW - applied_ago if applied_ago is not None else None, throughput=throughput,
        owner="proc-1" if alive else None, owner_heartbeat_age=timedelta(seconds=1) if alive else None,
        owner_alive=alive,
    )


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _evaluate(partitions: list["PartitionHealth"], state: StreamHealthState, now: datetime = NOW,
              config: StreamHealthConfig | None = None) -> tuple[list[Alert], list[dg.AssetObservation]]:
    from feature_platform.streaming.health import SourceHealth

    health = [SourceHealth("page_events", partitions, sum(p.dead_lettered for p in partitions))]
    return evaluate_stream_health([user_realtime_activity], health, state, now, config or StreamHealthConfig())


def test_stream_health_pages_p2_only_after_the_lag_lasted_and_p1_without_an_owner() -> None:
    state = StreamHealthState()
    healthy = [_partition(p) for p in range(4)]
    alerts, observations = _evaluate(healthy, state)
    assert [a.level for a in alerts] == [AlertLevel.OK]
    facts = observations[0].metadata
    assert observations[0].asset_key == dg.AssetKey(["stream", "page_events"])
    assert facts["applied"].value == 400 and facts["lag_events"].value == 0

    # 60,000 events waiting at 500 events/s: two minutes to apply, above the 1-minute promise.
    lagging = [_partition(0, lag=60_000, throughput=500.0), *healthy[1:]]
    alerts, _ = _evaluate(lagging, state)
    assert alerts[0].level is AlertLevel.OK  # not yet sustained
    alerts, observations = _evaluate(lagging, state, NOW + timedelta(minutes=5))
    assert alerts[0].level is AlertLevel.CRITICAL and alerts[0].summary.startswith("[P2]")
    assert "page_events:0" in alerts[0].summary
    # Durations in words: 60,000 events at 500/s wait 2 minutes; the promise is 1 minute.
    assert "lags 2 minutes (60000 events) behind, above the real_time promise of 1 minute for 5 minutes" in (
        alerts[0].summary
    )
    assert observations[0].metadata["max_lag"].value == "2 minutes"
    assert observations[0].metadata["scaling_advice"].value["lagging_partitions"] == ["page_events:0"]
    alerts, _ = _evaluate(healthy, state, NOW + timedelta(minutes=6))
    assert alerts[0].level is AlertLevel.OK and not state.high_since  # recovered: the clock restarts

    orphaned = [_partition(0, alive=False), *healthy[1:]]
    alerts, observations = _evaluate(orphaned, state, NOW + timedelta(minutes=7))
    assert alerts[0].level is AlertLevel.EMERGENCY and alerts[0].summary.startswith("[P1]")
    assert observations[0].metadata["partitions_without_live_owner"].value == [0]


def test_stream_health_warns_on_a_dead_letter_burst() -> None:
    state = StreamHealthState()
    _evaluate([_partition(p, events=100) for p in range(4)], state)
    # 40 more events per partition, 10 of them late: 25% since the last tick.
    alerts, observations = _evaluate([_partition(p, events=140, dead=10) for p in range(4)], state)
    assert alerts[0].level is AlertLevel.WARNING
    assert observations[0].metadata["dead_letter_share_since_last_tick"].value == 0.25


def test_the_reporter_sends_at_most_one_materialization_per_interval_and_loses_no_count() -> None:
    from feature_platform.streaming.processor import ProgressReport, ViewProgress

    instance = dg.DagsterInstance.ephemeral()
    clock = [0.0]
    reporter = StreamMaterializationReporter(
        instance, {user_realtime_activity.name: user_realtime_activity}, timedelta(seconds=30), clock=lambda: clock[0]
    )

    def progress(applied: int) -> ProgressReport:
        return ProgressReport({user_realtime_activity.name: ViewProgress(applied, 0, 1_795_000_000_000_000)},
                              "proc-1", {"page_events": [0, 1, 2, 3]})

    key = dg.AssetKey(["online", user_realtime_activity.name])
    for at, applied in ((1.0, 10), (6.0, 20), (11.0, 30), (32.0, 5)):
        clock[0] = at
        reporter(progress(applied))
    events = instance.fetch_materializations(key, limit=10).records
    assert [e.asset_materialization.metadata["applied"].value for e in reversed(events)] == [10, 55]
    assert all(e.run_id == "" for e in events)  # runless
