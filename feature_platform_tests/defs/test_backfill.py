"""Backfills: resumable ranges, progress and rate limit, and the dry run before a bug fix."""

from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from feature_platform.defs import build_definitions
from feature_platform.defs.backfill import run_backfill
from feature_platform.defs.jobs import partition_range_tags
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.feature_repo.views import user_purchase_activity
from feature_platform.materialization import connect_warehouse
from feature_platform.materialization.backfill import (
    missing_ranges,
    partition_keys,
    preview_recompute,
)
from feature_platform.offline import OfflineStore
from feature_platform.settings import Settings
from feature_platform.specs import Partitioning
from feature_platform_tests.defs.helpers import definitions_for, publish_step_seconds, purchase_rows
from feature_platform_tests.sample_platform import SampleWarehouse

VIEW = user_purchase_activity


def test_missing_ranges_are_the_contiguous_runs_not_done() -> None:
    keys = ["d1", "d2", "d3", "d4", "d5", "d6"]
    assert missing_ranges(keys, set()) == [("d1", "d6")]
    assert missing_ranges(keys, {"d2", "d5"}) == [("d1", "d1"), ("d3", "d4"), ("d6", "d6")]
    assert missing_ranges(keys, set(keys)) == []
    start = Partitioning.HOURLY.window_for_key("2026-01-15-22:00")[0]
    assert partition_keys(Partitioning.HOURLY, start, start + timedelta(hours=3)) == [
        "2026-01-15-22:00", "2026-01-15-23:00", "2026-01-16-00:00",
    ]


@pytest.mark.slow
def test_backfill_resumes_where_it_stopped_and_force_redoes(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    defs = definitions_for(platform_settings)
    instance = dg.DagsterInstance.ephemeral()
    end = sample_warehouse.end
    start = end - timedelta(days=3)
    lines: list[str] = []
    first = run_backfill(defs, instance, VIEW, start + timedelta(days=1), end - timedelta(days=1), log=lines.append)
    assert first == [(Partitioning.DAILY.key_for(start + timedelta(days=1)),) * 2]
    # An "interrupted" backfill of the middle day; the full window then runs only the rest.
    second = run_backfill(defs, instance, VIEW, start, end, log=lines.append)
    day = [Partitioning.DAILY.key_for(start + timedelta(days=i)) for i in range(3)]
    assert second == [(day[0], day[0]), (day[2], day[2])]
    assert "3 partitions in window, 1 already done, 2 run(s) to go" in "\n".join(lines)
    assert run_backfill(defs, instance, VIEW, start, end, log=lines.append) == []
    assert run_backfill(defs, instance, VIEW, start, end, force=True, log=lines.append) == [(day[0], day[2])]
    assert len(OfflineStore(platform_settings.offline_dir).materialized_partitions(VIEW)) == 3


@pytest.mark.slow
def test_online_publish_logs_progress_and_keeps_to_the_rate_limit(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    platform = FeaturePlatformResource(
        data_dir=str(platform_settings.data_dir), redis_url=platform_settings.redis_url,
        online_write_rate_limit=10.0, online_write_chunk_rows=10, online_write_batch_size=5,
    )
    defs = build_definitions(platform, include_dbt=False)
    end = sample_warehouse.end
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("daily_feature_views_job").execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(VIEW.name), dg.AssetKey(["online", VIEW.name])],
        tags=partition_range_tags(
            Partitioning.DAILY.key_for(end - timedelta(days=3)), Partitioning.DAILY.key_for(end - timedelta(days=1))
        ),
    )
    assert result.success
    rows = OfflineStore(platform_settings.offline_dir).read(VIEW, end - timedelta(days=3), end)
    entities = len(set(rows["user_id"].to_pylist()))
    assert rows.num_rows > 2 * entities > 40  # several rows per entity: the publish reduces them
    step_key = f"online__{VIEW.name}"
    progress = [e.user_message for e in instance.all_logs(result.run_id) if e.step_key == step_key and "rows/s" in e.user_message]
    assert len(progress) == -(-entities // 10)  # each entity's newest row once, 10 per chunk
    assert f"): {entities}/{entities} entities," in progress[-1]
    materialization = result.asset_materializations_for_node(step_key)[0]
    assert materialization.metadata["rows_in"].value == rows.num_rows
    assert materialization.metadata["dagster/row_count"].value == entities  # one published row per entity
    written = materialization.metadata["written"].value
    step = [e.timestamp for e in instance.all_logs(result.run_id) if e.step_key == step_key]
    assert written == entities and max(step) - min(step) >= written / 10.0 * 0.9  # the limit held the writes back


@pytest.mark.slow
def test_dry_run_shows_what_a_bug_fix_backfill_would_change_and_writes_nothing(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    end = sample_warehouse.end
    start = end - timedelta(days=3)
    defs = definitions_for(platform_settings)
    run_backfill(defs, dg.DagsterInstance.ephemeral(), VIEW, start, end, log=lambda _: None)
    store = OfflineStore(platform_settings.offline_dir)
    con = connect_warehouse(platform_settings.warehouse_path)
    assert preview_recompute(con, VIEW, store, start, end, sample_entities=1000).unchanged
    con.close()

    fix = duckdb.connect(str(platform_settings.warehouse_path))
    user = fix.execute("SELECT min(user_id) FROM fv_user_purchase_activity WHERE event_timestamp >= ?", [start]).fetchone()[0]
    fix.execute("UPDATE fv_user_purchase_activity SET spend_30d = spend_30d * 2 WHERE user_id = ? AND event_timestamp >= ?", [user, start])
    changed_rows = fix.execute("SELECT count(*) FROM fv_user_purchase_activity WHERE user_id = ? AND event_timestamp >= ?", [user, start]).fetchone()[0]
    fix.close()
    before = store.read(VIEW, start, end)
    con = connect_warehouse(platform_settings.warehouse_path)
    diff = preview_recompute(con, VIEW, store, start, end, sample_entities=1000)
    con.close()
    assert (diff.changed, diff.added, diff.removed) == (changed_rows, 0, 0)
    assert diff.examples[0]["after"]["spend_30d"] == pytest.approx(2 * diff.examples[0]["before"]["spend_30d"])
    assert store.read(VIEW, start, end).equals(before)


@pytest.mark.slow
def test_rate_limit_from_run_config_holds_a_real_publish(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    """The README's way: `online_write_rate_limit` in the run config of the daily job."""
    day = sample_warehouse.end - timedelta(days=1)
    n = 2_000
    rows = purchase_rows(day, n)
    OfflineStore(platform_settings.offline_dir).write_partitions(VIEW, day, day + timedelta(days=1), rows)
    instance = dg.DagsterInstance.ephemeral()
    result = definitions_for(platform_settings).resolve_job_def("daily_feature_views_job").execute_in_process(
        instance=instance,
        partition_key=Partitioning.DAILY.key_for(day),
        asset_selection=[dg.AssetKey(["online", VIEW.name])],
        # Run config replaces the resource's config as a whole (Dagster does not merge it
        # with the fields given in code), so the test's data folder and Redis come along.
        run_config={"resources": {"feature_platform": {"config": {
            "data_dir": str(platform_settings.data_dir), "redis_url": platform_settings.redis_url,
            "online_write_rate_limit": 500,
        }}}},
    )
    assert result.success
    step_key = f"online__{VIEW.name}"
    assert result.asset_materializations_for_node(step_key)[0].metadata["written"].value == n
    # 2,000 entities at 500 rows/s: about 4 s (an unlimited publish of 2,000 takes ~0.05 s).
    assert 3.6 <= publish_step_seconds(instance, result.run_id, step_key) <= 8.0
