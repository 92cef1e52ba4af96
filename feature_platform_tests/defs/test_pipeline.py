"""Issue 4's pipeline on a real platform: late data, incremental, schedules, validation, cleanup."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pandas as pd
import pytest

from feature_platform.defs.checks import ConsistencyCheckConfig
from feature_platform.defs.feature_view_assets import offline_key, online_key
from feature_platform.defs.resources import warehouse_resource
from feature_platform.defs.sensors import LATE_DATA_SENSOR
from feature_platform.errors import OnlineStoreUnavailableError
from feature_platform.feature_repo.views import user_purchase_activity
from feature_platform.materialization import connect_warehouse
from feature_platform.materialization.checkpoints import CheckpointStore
from feature_platform.materialization.incremental import publish_incremental
from feature_platform.offline import OfflineStore
from feature_platform.online import FeatureStatus, RedisOnlineStore
from feature_platform.sample_data import land_batch
from feature_platform.settings import Settings
from feature_platform.specs import Partitioning, ViewRequest
from feature_platform_tests.defs.helpers import definitions_for, platform_for, redis_dump, run_range
from feature_platform_tests.redis_server import RedisServer
from feature_platform_tests.sample_platform import SampleWarehouse, dbt_build

pytestmark = pytest.mark.slow
VIEW = user_purchase_activity


def _orders(settings: Settings) -> pd.DataFrame:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute("SELECT * FROM stg_orders").df()
    finally:
        con.close()


def _late_order(order_id: int, user_id: int, ordered_at: datetime, ingested_at: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {"order_id": [order_id], "user_id": [user_id], "ordered_at": [ordered_at], "amount": [1000.0],
         "items": [3], "ingested_at": [ingested_at]}
    )


def _tick(
    instance: dg.DagsterInstance, defs: dg.Definitions, settings: Settings, cursor: str | None
) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def(LATE_DATA_SENSOR)
    with dg.build_sensor_context(
        instance=instance, definitions=defs, cursor=cursor,
        resources={"feature_platform": platform_for(settings), "warehouse": warehouse_resource(settings)},
    ) as context:
        return sensor.evaluate_tick(context)


def _online(settings: Settings, user_id: int):  # type: ignore[no-untyped-def]
    store = RedisOnlineStore(settings.redis_url)
    try:
        response = store.read([ViewRequest(VIEW, ("purchases_7d", "spend_7d"))], [{"user_id": user_id}])
        return response.entities[0]["spend_7d"]
    finally:
        store.close()


def test_late_data_sensor_requests_corrections_and_they_publish_with_compare_and_set(
    platform_settings: Settings, sample_warehouse: SampleWarehouse, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    end = sample_warehouse.end
    defs = definitions_for(platform_settings)
    run_range(defs, Partitioning.DAILY, Partitioning.DAILY.key_for(end - timedelta(days=3)), Partitioning.DAILY.key_for(end - timedelta(days=1)))
    instance = dg.DagsterInstance.ephemeral()
    first = _tick(instance, defs, platform_settings, None)
    assert first.run_requests == []  # nothing late yet

    old_time = end - timedelta(days=2) + timedelta(minutes=7)
    new_time = end - timedelta(minutes=3)
    last_order = _orders(platform_settings).groupby("user_id").ordered_at.max()
    # old_user has orders after the late one, so its online value stays the newer row;
    # new_user's late order is newer than anything it has.
    old_user = int(last_order[last_order > old_time + timedelta(hours=1)].index[0])
    new_user = int(last_order[(last_order < new_time) & (last_order.index != old_user)].index[0])
    now = datetime.now(UTC)
    land_batch(platform_settings.landing_dir, "orders", pd.concat([
        _late_order(10**8, old_user, old_time, now), _late_order(10**8 + 1, new_user, new_time, now),
    ]), batch_id="late-1")
    before_old = _online(platform_settings, old_user)
    dbt_build(platform_settings, tmp_path / "dbt")

    tick = _tick(instance, defs, platform_settings, first.cursor)
    requested = sorted(r.partition_key for r in tick.run_requests)
    con = connect_warehouse(platform_settings.warehouse_path)
    changed = con.execute(
        "SELECT DISTINCT strftime(date_trunc('day', event_timestamp), '%Y-%m-%d') FROM fv_user_purchase_activity "
        "WHERE created_timestamp = ? ORDER BY 1", [now]
    ).fetchall()
    con.close()
    assert requested == [c[0] for c in changed] and requested
    assert all(set(r.asset_selection) == {offline_key(VIEW), online_key(VIEW)} for r in tick.run_requests)
    assert len({r.run_key for r in tick.run_requests}) == len(requested)

    for request in tick.run_requests:
        job = defs.resolve_job_def(request.job_name)
        result = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, asset_selection=request.asset_selection
        )
        assert result.success
    offline = OfflineStore(platform_settings.offline_dir).read(VIEW, end - timedelta(days=3), end).to_pandas()
    assert ((offline.user_id == old_user) & (offline.event_timestamp == old_time)).sum() == 1
    assert ((offline.user_id == new_user) & (offline.event_timestamp == new_time)).sum() == 1

    # The late row of old_user is older than its online value: that value's event time stays,
    # though its 7-day spend (a later row, recomputed with the late order) grows.
    after_old = _online(platform_settings, old_user)
    assert after_old.event_timestamp == before_old.event_timestamp
    assert after_old.value == pytest.approx(before_old.value + 1000.0)
    # The late row of new_user is the newest: it replaces the online value.
    after_new = _online(platform_settings, new_user)
    assert after_new.event_timestamp == new_time and after_new.status is FeatureStatus.PRESENT

    again = _tick(instance, defs, platform_settings, tick.cursor)
    assert again.run_requests == []  # corrected partitions now match their source


def test_incremental_publish_picks_up_late_rows_and_moves_its_checkpoint_only_on_success(
    platform_settings: Settings, sample_warehouse: SampleWarehouse, private_redis: RedisServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings = platform_settings.with_overrides(redis_url=private_redis.url)
    checkpoints = CheckpointStore(tmp_path / "checkpoints")
    store = RedisOnlineStore(settings.redis_url)
    con = connect_warehouse(settings.warehouse_path)
    now = datetime.now(UTC)
    first = publish_incremental(con, VIEW, store, checkpoints, now=now)
    assert first.rows_read > 0 and first.write.written > 0
    newest = con.execute("SELECT max(created_timestamp) FROM fv_user_purchase_activity").fetchone()[0]
    assert checkpoints.get(VIEW.name) == newest
    online = redis_dump(settings.redis_url)
    rerun = publish_incremental(con, VIEW, store, checkpoints, now=now)
    assert redis_dump(settings.redis_url) == online  # running it twice changes nothing
    # ... and says so: the overlap it re-read is reported unchanged, not written.
    assert rerun.write.entities > 0 and rerun.write.written == 0
    assert rerun.write.unchanged == rerun.write.entities - rerun.write.skipped_expired
    assert checkpoints.get(VIEW.name) == newest
    con.close()

    user = int(_orders(settings).user_id.iloc[0])
    late_time = sample_warehouse.end - timedelta(minutes=1)
    land_batch(settings.landing_dir, "orders", _late_order(10**8 + 5, user, late_time, now), batch_id="late-inc")
    dbt_build(settings, tmp_path / "dbt")
    con = connect_warehouse(settings.warehouse_path)
    private_redis.stop()
    with pytest.raises(OnlineStoreUnavailableError):
        publish_incremental(con, VIEW, RedisOnlineStore(settings.redis_url), checkpoints, now=datetime.now(UTC))
    assert checkpoints.get(VIEW.name) == newest  # not advanced: the write failed

    private_redis.start()
    store = RedisOnlineStore(private_redis.url)
    later = publish_incremental(con, VIEW, store, checkpoints, now=datetime.now(UTC))
    con.close()
    assert later.read_after == newest - timedelta(hours=2)
    assert checkpoints.get(VIEW.name) == now
    value = store.read([ViewRequest(VIEW, ("spend_7d",))], [{"user_id": user}]).entities[0]["spend_7d"]
    assert value.event_timestamp == late_time
    store.close()


def test_schedules_request_the_partitions_of_the_hybrid_strategy(platform_settings: Settings) -> None:
    defs = definitions_for(platform_settings)
    daily = defs.resolve_schedule_def("daily_full_materialization")
    hourly = defs.resolve_schedule_def("hourly_partition_materialization")
    assert (daily.cron_schedule, hourly.cron_schedule) == ("0 2 * * *", "10 * * * *")
    at = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=at) as context:
        request = daily.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-11-25"
    with dg.build_schedule_context(scheduled_execution_time=at.replace(hour=9, minute=10)) as context:
        request = hourly.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-11-26-08:00"
    crons = {s.name: s.cron_schedule for s in defs.schedules if isinstance(s, dg.ScheduleDefinition)}
    assert crons["hourly_incremental"] == "15 * * * *"
    assert crons["weekly_validation"] == "0 4 * * 1"


def test_weekly_validation_passes_when_stores_agree_and_fails_on_a_wrong_online_value(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    end = sample_warehouse.end
    defs = definitions_for(platform_settings)
    run_range(defs, Partitioning.DAILY, Partitioning.DAILY.key_for(end - timedelta(days=3)), Partitioning.DAILY.key_for(end - timedelta(days=1)))
    job = defs.resolve_job_def("weekly_validation_job")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"online/user_profile", "online/user_purchase_activity", "online/user_session_activity"}
    purchase = evaluations["online/user_purchase_activity"]
    assert purchase.passed and purchase.metadata["checked"].value > 0
    assert purchase.metadata["mismatched"].value == 0

    # A newer, wrong value for one user: online now disagrees with the offline answer.
    store = RedisOnlineStore(platform_settings.redis_url)
    user = int(_orders(platform_settings).user_id.iloc[0])
    row = {"user_id": [user], "event_timestamp": [end - timedelta(seconds=1)], "created_timestamp": [end],
           "purchases_7d": [999], "spend_7d": [1.0], "purchases_30d": [999], "spend_30d": [1.0], "avg_order_value_30d": [1.0]}
    assert store.write(VIEW, pd.DataFrame(row)).written == 1
    store.close()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    purchase = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}["online/user_purchase_activity"]
    assert not purchase.passed
    assert purchase.metadata["mismatched"].value == 1
    assert str(user) in str(purchase.metadata["samples"].value)


def test_cleanup_job_removes_expired_and_gone_entities(platform_settings: Settings, sample_warehouse: SampleWarehouse) -> None:
    end = sample_warehouse.end
    defs = definitions_for(platform_settings)
    run_range(defs, Partitioning.DAILY, Partitioning.DAILY.key_for(end - timedelta(days=3)), Partitioning.DAILY.key_for(end - timedelta(days=1)))
    store = RedisOnlineStore(platform_settings.redis_url)
    gone = {"user_id": [77_777_777], "event_timestamp": [end - timedelta(hours=1)], "created_timestamp": [end],
            "purchases_7d": [1], "spend_7d": [1.0], "purchases_30d": [1], "spend_30d": [1.0], "avg_order_value_30d": [1.0]}
    store.write(VIEW, pd.DataFrame(gone))
    before = sum(1 for _ in store.iter_entities(VIEW))
    result = defs.resolve_job_def("online_cleanup_job").execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    observations = [
        e.event_specific_data.asset_observation for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"
    ]
    purchase = next(o for o in observations if o.asset_key == online_key(VIEW))
    assert purchase.metadata["removed_gone"].value == 1
    after = {key["user_id"] for key, *_ in store.iter_entities(VIEW)}
    assert 77_777_777 not in after and len(after) == before - 1
    store.close()


def test_weekly_validation_on_the_spark_engine_of_the_dagster_pyspark_resource(
    platform_settings: Settings, sample_warehouse: SampleWarehouse, spark
) -> None:  # type: ignore[no-untyped-def]
    end = sample_warehouse.end
    defs = definitions_for(platform_settings)
    run_range(defs, Partitioning.DAILY, Partitioning.DAILY.key_for(end - timedelta(days=3)), Partitioning.DAILY.key_for(end - timedelta(days=1)))
    job = defs.resolve_job_def("weekly_validation_job")
    spark_jobs_before = len(spark.sparkContext.statusTracker().getJobIdsForGroup())
    ops = {f"online__{v}_online_matches_offline": ConsistencyCheckConfig(engine="spark")
           for v in ("user_profile", "user_purchase_activity", "user_session_activity")}
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=dg.RunConfig(ops=ops))
    purchase = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}["online/user_purchase_activity"]
    assert purchase.passed and purchase.metadata["checked"].value > 0
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup()) > spark_jobs_before  # the join ran on Spark


def test_hourly_incremental_job_publishes_and_records_its_checkpoint(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    defs = definitions_for(platform_settings)
    job = defs.resolve_job_def("hourly_incremental_job")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    observations = {
        o.asset_key.to_user_string(): o
        for o in (e.event_specific_data.asset_observation for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION")
    }
    assert set(observations) == {"online/user_profile", "online/user_purchase_activity", "online/user_session_activity"}
    checkpoints = CheckpointStore(platform_settings.checkpoints_dir)
    con = connect_warehouse(platform_settings.warehouse_path)
    newest = con.execute("SELECT max(created_timestamp) FROM fv_user_profile").fetchone()[0]
    con.close()
    assert checkpoints.get("user_profile") == newest
    assert observations["online/user_profile"].metadata["checkpoint"].value == str(newest)
    assert observations["online/user_profile"].metadata["written"].value == len(sample_warehouse.summary.user_ids)
    online = redis_dump(platform_settings.redis_url)
    assert job.execute_in_process(instance=dg.DagsterInstance.ephemeral()).success
    assert redis_dump(platform_settings.redis_url) == online  # a second run changes nothing
    assert checkpoints.get("user_profile") == newest
