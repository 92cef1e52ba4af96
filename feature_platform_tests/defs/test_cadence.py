"""Cadence per freshness tier: schedules generated from the tiers, and each tier's worst
case (cadence plus the measured run time of its refreshing runs) inside its promise."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from feature_platform.defs import build_definitions
from feature_platform.defs.jobs import materialize_job_name
from feature_platform.defs.microbatch import dbt_build_args, microbatch_job_name
from feature_platform.defs.ops import INCREMENTAL_JOB
from feature_platform.defs.schedules import microbatch_schedule_name
from feature_platform.errors import ConfigError
from feature_platform.materialization.cadence import CADENCES, RefreshMode, cadence_for, cron_for
from feature_platform.settings import Settings
from feature_platform.specs import FreshnessTier, Partitioning
from feature_platform_tests.defs.helpers import definitions_for, platform_for, redis_dump
from feature_platform_tests.sample_platform import SampleWarehouse

NRT = FreshnessTier.NEAR_REAL_TIME


def test_each_tier_gets_the_mode_of_the_seeds_decision_framework() -> None:
    modes = {tier: cadence_for(tier).mode for tier in FreshnessTier}
    assert modes == {
        FreshnessTier.REAL_TIME: RefreshMode.STREAM,
        NRT: RefreshMode.MICRO_BATCH,
        FreshnessTier.BATCH: RefreshMode.HOURLY_INCREMENTAL,
        FreshnessTier.STATIC: RefreshMode.DAILY,
    }
    assert cadence_for(NRT).every <= timedelta(minutes=5)
    # Without any run time, the cadence alone leaves room inside every promise.
    assert all(c.fits(timedelta(0)) for c in CADENCES.values())
    assert not cadence_for(NRT).fits(timedelta(minutes=10))


def test_cron_expressions_follow_period_and_offset() -> None:
    assert cron_for(timedelta(minutes=5), timedelta(minutes=3)) == "3-59/5 * * * *"
    assert cron_for(timedelta(minutes=5)) == "*/5 * * * *"
    assert cron_for(timedelta(hours=1), timedelta(minutes=15)) == "15 * * * *"
    assert cron_for(timedelta(days=1), timedelta(hours=2, minutes=30)) == "30 2 * * *"
    for every, offset in [(timedelta(minutes=7), timedelta(0)), (timedelta(hours=1), timedelta(hours=1)),
                          (timedelta(seconds=90), timedelta(0))]:
        with pytest.raises(ConfigError, match="schedule every"):
            cron_for(every, offset)


def test_dbt_build_args_select_the_models_and_their_parents() -> None:
    assert dbt_build_args(["fv_b", "fv_a", "fv_b"]) == ["build", "--select", "+fv_a +fv_b"]


def test_schedules_are_generated_from_the_tiers(platform_settings: Settings) -> None:
    defs = build_definitions(platform_for(platform_settings), include_dbt=True)
    crons = {s.name: s.cron_schedule for s in defs.schedules if isinstance(s, dg.ScheduleDefinition)}
    assert crons[microbatch_schedule_name(NRT)] == cadence_for(NRT).cron == "3-59/5 * * * *"
    assert crons["hourly_incremental"] == cadence_for(FreshnessTier.BATCH).cron == "15 * * * *"
    assert crons["hourly_dbt_build"] == "0 * * * *"
    assert defs.resolve_schedule_def("daily_full_materialization").cron_schedule == cadence_for(FreshnessTier.STATIC).cron

    # The hourly publish covers the BATCH views only: NEAR_REAL_TIME ones have their
    # micro-batch, STATIC ones the daily run.
    with dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 9, 15, tzinfo=UTC)) as context:
        request = defs.resolve_schedule_def("hourly_incremental").evaluate_tick(context).run_requests[0]
    assert request.run_config["ops"]["publish_incremental_op"]["config"]["views"] == ["user_purchase_activity"]
    microbatch = defs.resolve_job_def(microbatch_job_name(NRT))
    upstream = {i.name: {d.node for d in deps.values()} for i, deps in microbatch.dependencies.items()}  # type: ignore[attr-defined]
    assert upstream == {"near_real_time_dbt_build": set(), "near_real_time_publish_incremental": {"near_real_time_dbt_build"}}


@pytest.mark.slow
def test_every_tier_fits_its_promise_with_the_measured_run_time(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    """Runs each tier's refreshing jobs for real (dbt, DuckDB, Redis, Dagster) and times them."""
    defs = build_definitions(platform_for(platform_settings), include_dbt=True)

    def timed(job: str, **kwargs: object) -> tuple[timedelta, dg.ExecuteInProcessResult]:
        started = time.perf_counter()
        result = defs.resolve_job_def(job).execute_in_process(instance=dg.DagsterInstance.ephemeral(), **kwargs)  # type: ignore[arg-type]
        assert result.success
        return timedelta(seconds=time.perf_counter() - started), result

    microbatch_time, microbatch = timed(microbatch_job_name(NRT))
    materialized = {m.asset_key.to_user_string(): m for m in microbatch.asset_materializations_for_node(
        "near_real_time_dbt_build")}
    assert set(materialized) == {"dbt/stg_page_views", "dbt/fv_user_session_activity"}  # only its models
    for event in materialized.values():  # counted after the build, then the publish reads the warehouse
        assert event.metadata["dagster/row_count"].value > 0 and event.metadata["dagster/column_schema"].value.columns
    published = microbatch.asset_materializations_for_node("near_real_time_publish_incremental")
    assert [m.asset_key.to_user_string() for m in published] == ["online/user_session_activity"]
    assert published[0].partition is None and published[0].metadata["written"].value > 0
    assert {k.split(b":")[2] for k in redis_dump(platform_settings.redis_url)} == {b"user_session_activity"}

    dbt_time = sample_warehouse.dbt_build_time  # the hourly `dbt build` of every model, timed by the fixture
    incremental_time, _ = timed(
        INCREMENTAL_JOB, run_config={"ops": {"publish_incremental_op": {"config": {"views": ["user_purchase_activity"]}}}}
    )
    day = Partitioning.DAILY.key_for(sample_warehouse.end - timedelta(days=1))
    daily_time, _ = timed(materialize_job_name(Partitioning.DAILY), partition_key=day)

    measured = {
        NRT: microbatch_time,
        FreshnessTier.BATCH: dbt_time + incremental_time,
        FreshnessTier.STATIC: dbt_time + daily_time,
    }
    for tier, run_time in measured.items():
        cadence = cadence_for(tier)
        assert cadence.fits(run_time), (
            f"{tier.value}: every {cadence.every} + lag {cadence.publish_lag} + measured {run_time} "
            f"= {cadence.worst_case_age(run_time)} >= promise {tier.expected_freshness}"
        )


def test_without_dbt_the_microbatch_only_publishes(platform_settings: Settings) -> None:
    defs = definitions_for(platform_settings)
    job = defs.resolve_job_def(microbatch_job_name(NRT))
    assert [n.name for n in job.nodes] == ["near_real_time_publish_incremental"]
    assert job.execute_in_process(instance=dg.DagsterInstance.ephemeral()).success
