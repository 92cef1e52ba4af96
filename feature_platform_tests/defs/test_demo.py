import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from feature_platform.demo import run_demo
from feature_platform.feature_repo import default_registry
from feature_platform.monitoring import AlertLevel, collect_staleness
from feature_platform.offline import OfflineStore
from feature_platform.online import RedisOnlineStore
from feature_platform.sample_data.stream_events import CATEGORIES
from feature_platform.settings import Settings

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_on_a_small_sample(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `make demo` entry point: sample data, dbt via Dagster, every view, reads printed."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_url)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # make demo's default
    result = run_demo(settings, days=2, n_users=25, end=end)

    out = capsys.readouterr().out
    assert "Point-in-time training frame (churn_model_v1)" in out and "Online read (churn_model_v1)" in out
    # Quiet: a line per step and a summary; Dagster's and dbt's output only in the log file.
    lines = out.splitlines()
    assert len(lines) < 80 and not [line for line in lines if " - dagster - " in line or "DEBUG" in line]
    assert [line.split("]")[0] for line in lines if line.startswith("[")] == [f"[{n}/6" for n in range(1, 7)]
    summary = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("user_")}
    assert summary["user_purchase_activity"][1] == "2" and int(summary["user_purchase_activity"][2].replace(",", "")) > 0
    assert summary["user_session_activity"][1] == "48"
    assert "Steps: " in out and "http://127.0.0.1:3000" in out
    log = (settings.data_dir / "logs" / "demo.log").read_text()
    assert "RUN_SUCCESS" in log and "dbt build" in log
    store = OfflineStore(settings.offline_dir)
    for view in default_registry().views:
        # Stream views' offline partitions come from the daily correction, not the demo.
        assert bool(store.materialized_partitions(view)) is not view.is_stream
    assert len(result.historical) == 2 * len(result.user_ids)
    assert result.historical["user_id"].tolist() == [u for u in result.user_ids for _ in range(2)]
    # The rows at end - 3.5 days come before all sample data: nothing may leak into them.
    early = result.historical[result.historical["event_timestamp"] < result.end - timedelta(days=2)]
    assert early[["purchases_7d", "plan", "session_page_views"]].isna().all().all()
    assert result.online["plan"].notna().all()
    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    runs = instance.get_runs()
    assert len(runs) == 4 and all(r.is_success for r in runs)  # dbt, daily range, hourly range, incremental

    # Right after the demo, every view is healthy by its own kind of staleness: the batch
    # views as of 10 minutes into the hour (their runs' times are simulated), the stream view
    # as of now (its processor ran in real time, so a simulated instant would put it minutes
    # behind whenever the test runs early in an hour).
    online = RedisOnlineStore(redis_url)
    for view in default_registry().views:
        at = datetime.now(UTC) if view.is_stream else end + timedelta(minutes=10)
        report = collect_staleness(view, store, online, now=at, last_materialization=end + timedelta(minutes=5))
        assert report.level is AlertLevel.OK, (view.name, report.reasons)
    online.close()

    # The real-time step: a burst pushed, consumed by the processor, read back with statuses.
    applied = int(re.search(r"the stream processor applied (\d+)", out).group(1))  # type: ignore[union-attr]
    realtime = result.realtime
    assert realtime is not None and "Real-time features (user_realtime_activity)" in out
    assert (realtime["page__status"] == "PRESENT").all()
    assert 0 < applied < 2_000 and realtime["page_views_1h"].sum() == applied  # 1% came too late
    # Distinct product categories over the last 5 minutes, printed with the other features.
    assert "categories_5m" in out and realtime["categories_5m"].between(1, len(CATEGORIES)).all()
    reported = instance.get_latest_materialization_event(dg.AssetKey(["online", "user_realtime_activity"]))
    assert reported is not None and reported.run_id == ""  # a runless event from the processor
