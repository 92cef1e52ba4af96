"""The `feature-platform` command on a real platform: staleness, backfill dry run, list,
describe and the materialize verbs."""

from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from feature_platform.cli import main
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.settings import Settings
from feature_platform_tests.defs.helpers import materialize_everything
from feature_platform_tests.sample_platform import SampleWarehouse

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_env(platform_settings: Settings, sample_warehouse: SampleWarehouse, monkeypatch: pytest.MonkeyPatch) -> Settings:
    materialize_everything(platform_settings, (sample_warehouse.end, sample_warehouse.days))
    monkeypatch.setenv("FEATURE_PLATFORM_HOME", str(platform_settings.data_dir))
    monkeypatch.setenv("REDIS_URL", platform_settings.redis_url)
    return platform_settings


def test_staleness_prints_a_row_per_view_with_its_level(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staleness"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0].startswith("user_")}
    assert set(rows) == {"user_profile", "user_purchase_activity", "user_session_activity", "user_realtime_activity"}
    assert "OK" in rows["user_profile"] and "CRITICAL" in rows["user_session_activity"]


def test_backfill_dry_run_reports_the_change_and_bad_input_exits_with_a_message(
    cli_env: Settings, sample_warehouse: SampleWarehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    start = (sample_warehouse.end - timedelta(days=3)).date().isoformat()
    end = sample_warehouse.end.date().isoformat()
    con = duckdb.connect(str(cli_env.warehouse_path))
    con.execute("UPDATE fv_user_purchase_activity SET spend_7d = spend_7d + 1 WHERE user_id = (SELECT min(user_id) FROM fv_user_purchase_activity)")
    con.close()
    assert main(["backfill", "user_purchase_activity", "--from", start, "--to", end, "--dry-run", "--sample", "1000"]) == 0
    out = capsys.readouterr().out
    assert "0 added, 0 removed" in out and " 0 changed" not in out and "'kind': 'changed'" in out
    assert main(["backfill", "no_such_view", "--from", start, "--to", end, "--dry-run"]) == 1
    assert "Feature view 'no_such_view' does not exist" in capsys.readouterr().err


def test_list_and_describe_show_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("user_")}
    assert rows["user_purchase_activity"][:7] == ["user_purchase_activity", "user", "5", "batch", "daily", "30", "days"]
    assert rows["user_profile"][5] == "none" and "growth-ml@example.com" in rows["user_profile"]
    assert "user_session_activity:page_views_1h" in out and "churn_model_v1" in out
    assert main(["describe", "user_session_activity"]) == 0
    out = capsys.readouterr().out
    assert "ttl             1 day" in out and "near_real_time (expected freshness 15 minutes)" in out
    assert main(["describe", "nope"]) == 1
    assert "Feature view 'nope' does not exist" in capsys.readouterr().err


def test_materialize_verbs_run_in_the_platform_instance(
    platform_settings: Settings, sample_warehouse: SampleWarehouse, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    monkeypatch.setenv("FEATURE_PLATFORM_HOME", str(platform_settings.data_dir))
    monkeypatch.setenv("REDIS_URL", platform_settings.redis_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    start = (sample_warehouse.end - timedelta(days=sample_warehouse.days)).date().isoformat()
    end = sample_warehouse.end.date().isoformat()
    assert main(["materialize", start, end, "--views", "user_profile"]) == 0
    out = capsys.readouterr().out
    assert f"user_profile: partitions {start} ... " in out and "(3) in run" in out
    assert main(["materialize-incremental", "--views", "user_profile"]) == 0
    assert "online/user_profile: read " in capsys.readouterr().out

    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    runs = {r.tags.get("feature_platform/trigger"): r for r in instance.get_runs()}
    assert set(runs) == {"materialize", "materialize-incremental"}
    assert all(r.status is dg.DagsterRunStatus.SUCCESS for r in runs.values())
    assert set(instance.get_materialized_partitions(dg.AssetKey(["online", "user_profile"]))) == {
        (sample_warehouse.end - timedelta(days=d)).date().isoformat() for d in (1, 2, 3)
    }
    user = sample_warehouse.summary.user_ids[0]
    online = FeatureStore(platform_settings).get_online_features([{"user_id": user}], ["user_profile:plan"])
    assert online.to_dict()["plan__status"] == ["PRESENT"]
    log = (platform_settings.data_dir / "logs" / "materialize.log").read_text()
    assert "RUN_SUCCESS" in log or "Finished execution of run" in log
