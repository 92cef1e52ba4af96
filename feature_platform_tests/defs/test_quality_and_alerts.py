"""Issue 5 in Dagster: freshness policies, blocking validation, staleness checks, paging."""

import re
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from feature_platform.defs import build_definitions
from feature_platform.defs.jobs import partition_range_tags
from feature_platform.defs.monitoring import ALERT_SENSOR, MONITORING_JOB, OnCallResource
from feature_platform.defs.quality_checks import LEAKAGE_CHECK, VALIDATION_CHECK
from feature_platform.feature_repo import default_registry
from feature_platform.feature_repo.views import user_purchase_activity
from feature_platform.monitoring import freshness_windows
from feature_platform.settings import Settings
from feature_platform.specs import FreshnessTier, Partitioning
from feature_platform_tests.alerting.webhook_server import webhook_server
from feature_platform_tests.defs.helpers import (
    HUMAN_DURATION,
    definitions_for,
    platform_for,
    redis_dump,
    run_range,
    seconds_of,
)
from feature_platform_tests.redis_server import RedisServer
from feature_platform_tests.sample_platform import SampleWarehouse

pytestmark = pytest.mark.slow
ROUTING_KEY = "R0UT1NGKEY-secret-value"


def _materialize_all_daily(defs: dg.Definitions, sample: SampleWarehouse) -> None:
    run_range(defs, Partitioning.DAILY, Partitioning.DAILY.key_for(sample.end - timedelta(days=sample.days)),
              Partitioning.DAILY.key_for(sample.end - timedelta(days=1)))


def test_freshness_policies_follow_each_view_tier() -> None:
    from feature_platform.definitions import defs

    graph = defs.resolve_asset_graph()
    for view in default_registry().views:
        warn, fail = freshness_windows(view.tier)
        # A stream view's offline partitions come from the daily correction: a daily cadence.
        offline = freshness_windows(FreshnessTier.BATCH) if view.is_stream else (warn, fail)
        for key, windows in ((dg.AssetKey(view.name), offline), (dg.AssetKey(["online", view.name]), (warn, fail))):
            policy = graph.get(key).freshness_policy
            assert (policy.warn_window.to_timedelta(), policy.fail_window.to_timedelta()) == windows
    assert freshness_windows(FreshnessTier.NEAR_REAL_TIME) == (timedelta(minutes=30), timedelta(minutes=75))


def test_failing_validation_blocks_the_online_publish(platform_settings: Settings, sample_warehouse: SampleWarehouse) -> None:
    defs = definitions_for(platform_settings)
    _materialize_all_daily(defs, sample_warehouse)
    online_before = redis_dump(platform_settings.redis_url)
    day = sample_warehouse.end - timedelta(days=1)
    con = duckdb.connect(str(platform_settings.warehouse_path))
    con.execute(
        "UPDATE fv_user_purchase_activity SET spend_7d = -5 WHERE user_id = "
        "(SELECT min(user_id) FROM fv_user_purchase_activity WHERE event_timestamp >= ?) AND event_timestamp >= ?",
        [day, day],
    )
    con.close()

    job = defs.resolve_job_def("daily_feature_views_job")
    result = job.execute_in_process(
        partition_key=Partitioning.DAILY.key_for(day), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()
    }
    failed = evaluations[(user_purchase_activity.name, "feature_rows_valid")]
    assert not failed.passed
    assert "expect_column_values_to_be_between(spend_7d)" in str(failed.metadata["failed_expectations"].value)
    assert "-5" in str(failed.metadata)
    assert evaluations[("user_profile", "feature_rows_valid")].passed
    assert evaluations[("user_profile", "no_future_rows")].passed
    executed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert "online__user_purchase_activity" not in executed
    assert redis_dump(platform_settings.redis_url) == online_before  # Redis kept its values


def test_staleness_checks_measure_each_view_against_its_tier(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    defs = definitions_for(platform_settings)
    _materialize_all_daily(defs, sample_warehouse)
    run_range(defs, Partitioning.HOURLY, Partitioning.HOURLY.key_for(sample_warehouse.end - timedelta(days=1)),
              Partitioning.HOURLY.key_for(sample_warehouse.end - timedelta(hours=1)))
    result = defs.resolve_job_def(MONITORING_JOB).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    profile, purchases = evaluations["user_profile"], evaluations["user_purchase_activity"]
    sessions = evaluations["user_session_activity"]
    assert profile.passed and profile.metadata["level"].value == "OK"
    assert profile.metadata["online_entity_count"].value == len(sample_warehouse.summary.user_ids)
    # The sample's newest events are hours old: far behind a 15-minute promise (CRITICAL),
    # well within a daily one.
    assert seconds_of(sessions.metadata["feature_lag"].value) > 5 * 15 * 60
    assert not sessions.passed and sessions.severity is dg.AssetCheckSeverity.ERROR
    assert sessions.metadata["level"].value == "CRITICAL"
    assert purchases.passed and seconds_of(purchases.metadata["feature_lag"].value) < 2 * 24 * 3600
    assert purchases.metadata["online_entity_count"].value > 0
    assert purchases.metadata["stale_rate"].value is not None
    # Every duration reads as words ("5 hours 12 minutes 3 seconds"): no float seconds, no
    # timedelta text ("1 day, 5:12:03").
    durations = ("staleness", "expected_freshness", "feature_lag", "online_feature_lag", "offline_feature_lag",
                 "materialization_lag", "age_p50", "age_p95", "age_p99")
    for name in durations:
        text = purchases.metadata[name].value
        assert isinstance(text, str) and HUMAN_DURATION.fullmatch(text), (name, text)
    assert purchases.metadata["expected_freshness"].value == "1 day"
    assert seconds_of(purchases.metadata["age_p50"].value) <= seconds_of(purchases.metadata["age_p99"].value)
    for evaluation in (purchases, sessions):  # the reasons name durations in words too
        assert not re.search(r"\d:\d\d:\d\d", str(evaluation.metadata["reasons"].value) + str(evaluation.description))
    assert "the expected 15 minutes" in str(sessions.metadata["reasons"].value)


def test_alert_sensor_pages_once_escalates_on_outage_and_resolves(
    sample_warehouse: SampleWarehouse, private_redis: RedisServer, tmp_path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    settings = sample_warehouse.copy_to(tmp_path / "data", private_redis.url)
    monkeypatch.setenv("TEST_PAGERDUTY_KEY", ROUTING_KEY)
    instance = dg.DagsterInstance.ephemeral()
    with webhook_server() as receiver:
        on_call = OnCallResource(webhook_url=receiver.url, kind="pagerduty", routing_key=dg.EnvVar("TEST_PAGERDUTY_KEY"),
                                 max_attempts=1, timeout_s=2.0)
        defs = build_definitions(platform_for(settings), include_dbt=False, on_call=on_call)
        _materialize_all_daily(defs, sample_warehouse)
        run_range(defs, Partitioning.HOURLY, Partitioning.HOURLY.key_for(sample_warehouse.end - timedelta(days=1)),
                  Partitioning.HOURLY.key_for(sample_warehouse.end - timedelta(hours=1)))

        def tick(cursor: str | None) -> str | None:
            sensor = defs.resolve_sensor_def(ALERT_SENSOR)
            with dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor,
                                         resources={"feature_platform": platform_for(settings), "on_call": on_call}) as context:
                return sensor.evaluate_tick(context).cursor

        cursor = tick(None)
        first = list(receiver.bodies)
        assert [(b["event_action"], b["dedup_key"]) for b in first] == [("trigger", "feature_platform/user_session_activity")]
        assert first[0]["routing_key"] == ROUTING_KEY and first[0]["payload"]["severity"] == "error"
        assert first[0]["payload"]["custom_details"]["view"] == "user_session_activity"

        cursor = tick(cursor)
        assert len(receiver.bodies) == 1  # same incident, same level: no second page

        private_redis.stop()  # online store down: EMERGENCY everywhere
        cursor = tick(cursor)
        outage = receiver.bodies[1:]
        # Stream views are paged by the stream health sensor, not by the freshness alerts.
        batch_views = [v for v in default_registry().views if not v.is_stream]
        assert {b["dedup_key"] for b in outage} == {f"feature_platform/{v.name}" for v in batch_views}
        assert all(b["event_action"] == "trigger" and b["payload"]["severity"] == "critical" for b in outage)

        private_redis.start()
        _materialize_all_daily(defs, sample_warehouse)
        run_range(defs, Partitioning.HOURLY, Partitioning.HOURLY.key_for(sample_warehouse.end - timedelta(days=1)),
                  Partitioning.HOURLY.key_for(sample_warehouse.end - timedelta(hours=1)))
        tick(cursor)
        recovered = receiver.bodies[1 + len(outage):]
        resolved = {b["dedup_key"] for b in recovered if b["event_action"] == "resolve"}
        assert resolved == {"feature_platform/user_profile", "feature_platform/user_purchase_activity"}
        assert not [b for b in recovered if b["event_action"] == "trigger"]  # sessions: back below its peak
    assert ROUTING_KEY not in caplog.text


def test_alert_sensor_survives_in_flight_runs_and_an_unreadable_view(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    with webhook_server() as receiver:
        on_call = OnCallResource(webhook_url=receiver.url, kind="pagerduty", routing_key="key", max_attempts=1)
        defs = build_definitions(platform_for(platform_settings), include_dbt=False, on_call=on_call)
        job = defs.resolve_job_def("daily_feature_views_job")
        days = [sample_warehouse.end - timedelta(days=n) for n in range(sample_warehouse.days, 0, -1)]
        keys = [Partitioning.DAILY.key_for(day) for day in days]
        job.execute_in_process(instance=instance, tags=partition_range_tags(keys[0], keys[-1]))
        # The range ran as one run, yet every partition it planned got its own evaluation:
        # none stays open (the UI showed such checks as Skipped beside a Passed execution).
        for view in default_registry().views:
            if view.partitioning is Partitioning.DAILY and not view.is_stream:
                for check in (VALIDATION_CHECK, LEAKAGE_CHECK):
                    history = instance.event_log_storage.get_asset_check_execution_history(
                        dg.AssetCheckKey(dg.AssetKey(view.name), check), limit=50)
                    assert [(r.partition, r.status.value) for r in reversed(history)] == [(k, "SUCCEEDED") for k in keys]

        # A run in flight: its checks are planned, neither passed nor failed.
        instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED, tags={"dagster/partition": keys[-1]})
        planned = instance.get_latest_asset_check_evaluation_record(
            dg.AssetCheckKey(dg.AssetKey(user_purchase_activity.name), VALIDATION_CHECK))
        assert planned is not None and planned.status.value == "PLANNED"
        # And one view whose state cannot be read.
        offline = platform_for(platform_settings).offline_store()
        offline.partition_path(user_purchase_activity, days[-1]).write_bytes(b"not a parquet file")

        sensor = defs.resolve_sensor_def(ALERT_SENSOR)
        with dg.build_sensor_context(instance=instance, definitions=defs,
                                     resources={"feature_platform": platform_for(platform_settings), "on_call": on_call}) as context:
            sensor.evaluate_tick(context)
        pages = {b["dedup_key"].split("/")[-1]: b for b in receiver.bodies}
        broken = pages["user_purchase_activity"]["payload"]
        assert broken["severity"] == "critical" and "[P1]" in broken["summary"]
        assert "state cannot be read" in broken["summary"]
        # The other views were evaluated as usual: the profile is healthy, the hourly view has no data yet.
        assert "user_profile" not in pages
        assert pages["user_session_activity"]["payload"]["severity"] == "warning"
