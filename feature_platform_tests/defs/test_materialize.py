import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest

from feature_platform.feature_repo.views import user_purchase_activity, user_session_activity
from feature_platform.offline import OfflineStore
from feature_platform.online import FeatureStatus, RedisOnlineStore
from feature_platform.settings import Settings
from feature_platform.specs import Partitioning, ViewRequest
from feature_platform_tests.defs.helpers import definitions_for, redis_dump, run_range, source_rows
from feature_platform_tests.sample_platform import SampleWarehouse

pytestmark = pytest.mark.slow


def _sorted(table):  # type: ignore[no-untyped-def]
    return table.sort_by([(c, "ascending") for c in ["user_id", "event_timestamp", "created_timestamp"]])


def _latest_per_user(table):  # type: ignore[no-untyped-def]
    latest = {}
    for row in _sorted(table).to_pylist():
        latest[row["user_id"]] = row
    return latest


def test_materialize_partition_writes_offline_and_online_and_is_idempotent(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    view = user_purchase_activity
    day = sample_warehouse.end - timedelta(days=1)
    key = Partitioning.DAILY.key_for(day)
    defs = definitions_for(platform_settings)
    job = defs.resolve_job_def("daily_feature_views_job")
    result = job.execute_in_process(partition_key=key, instance=dg.DagsterInstance.ephemeral())
    assert result.success

    expected = source_rows(platform_settings, view, day, day + timedelta(days=1))
    assert expected.num_rows > 0
    offline = OfflineStore(platform_settings.offline_dir).read(view, day, day + timedelta(days=1))
    assert _sorted(offline).select(expected.column_names).to_pylist() == _sorted(expected).to_pylist()
    materializations = result.asset_materializations_for_node("user_purchase_activity")
    assert materializations[0].metadata["dagster/row_count"].value == expected.num_rows

    store = RedisOnlineStore(platform_settings.redis_url)
    latest = _latest_per_user(expected)
    response = store.read([ViewRequest(view, tuple(view.feature_names))], [{"user_id": u} for u in latest])
    rows = response.to_df().to_dict("records")
    for user_id, row in zip(latest, rows):
        assert row["user_id"] == user_id
        assert row["purchases_7d"] == latest[user_id]["purchases_7d"]
        assert row["spend_30d"] == pytest.approx(latest[user_id]["spend_30d"])
    store.close()

    offline_before, online_before = offline, redis_dump(platform_settings.redis_url)
    assert job.execute_in_process(partition_key=key, instance=dg.DagsterInstance.ephemeral()).success
    assert OfflineStore(platform_settings.offline_dir).read(view, day, day + timedelta(days=1)).equals(offline_before)
    assert redis_dump(platform_settings.redis_url) == online_before


def test_single_run_range_materializes_every_hourly_partition(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    view = user_session_activity
    start = sample_warehouse.end - timedelta(days=1)
    defs = definitions_for(platform_settings)
    result = run_range(defs, Partitioning.HOURLY, Partitioning.HOURLY.key_for(start), Partitioning.HOURLY.key_for(sample_warehouse.end - timedelta(hours=1)))
    assert len(result.all_events) > 0
    store = OfflineStore(platform_settings.offline_dir)
    assert len(store.materialized_partitions(view)) == 24
    expected = source_rows(platform_settings, view, start, sample_warehouse.end)
    assert store.read(view, start, sample_warehouse.end).num_rows == expected.num_rows


def test_cli_backfills_a_partition_range_in_one_run(
    platform_settings: Settings, sample_warehouse: SampleWarehouse, tmp_path: Path
) -> None:
    """The README's `dagster asset materialize --partition-range` backfill command."""
    view = user_purchase_activity
    day = sample_warehouse.end - timedelta(days=2)
    last = sample_warehouse.end - timedelta(days=1)
    env = {
        **os.environ,
        "FEATURE_PLATFORM_HOME": str(platform_settings.data_dir),
        "REDIS_URL": platform_settings.redis_url,
        "DAGSTER_HOME": str(tmp_path),
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = str(Path(sys.executable).parent / "dagster")
    done = subprocess.run(
        [dagster, "asset", "materialize", "-m", "feature_platform.definitions",
         "--select", f"{view.name},online/{view.name}",
         "--partition-range", f"{Partitioning.DAILY.key_for(day)}...{Partitioning.DAILY.key_for(last)}"],
        check=False, env=env, capture_output=True, text=True, timeout=300,
        cwd=tmp_path,  # not the repo: its .env names the instance of `make dev`
    )
    assert done.returncode == 0, done.stderr[-3000:]
    offline = OfflineStore(platform_settings.offline_dir).read(view, day, sample_warehouse.end)
    assert offline.num_rows == source_rows(platform_settings, view, day, sample_warehouse.end).num_rows
    runs = dg.DagsterInstance.from_config(str(tmp_path)).get_runs()
    assert len(runs) == 1 and runs[0].is_success
    users = pc.unique(offline["user_id"]).to_pylist()
    store = RedisOnlineStore(platform_settings.redis_url)
    response = store.read([ViewRequest(view, ("purchases_30d",))], [{"user_id": u} for u in users])
    statuses = response.to_df()["purchases_30d__status"].tolist()
    assert statuses and all(s == FeatureStatus.PRESENT.value for s in statuses)
    store.close()
