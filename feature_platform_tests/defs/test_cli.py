"""The `feature-platform` command's staleness table and backfill dry run, on a real platform."""

from datetime import timedelta

import duckdb
import pytest

from feature_platform.cli import main
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
    assert set(rows) == {"user_profile", "user_purchase_activity", "user_session_activity"}
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
