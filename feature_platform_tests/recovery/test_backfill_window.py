"""Off-peak execution: a large backfill outside the deployment's window waits or slows down."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import redis

from feature_platform.defs.backfill import run_backfill
from feature_platform.defs.jobs import partition_range_tags
from feature_platform.defs.off_peak import off_peak_rate
from feature_platform.errors import ConfigError
from feature_platform.feature_repo.views import user_purchase_activity
from feature_platform.materialization.backfill_window import BackfillWindow, OffPeak, OutsideWindow
from feature_platform.offline import OfflineStore
from feature_platform.settings import Settings
from feature_platform.specs import Partitioning
from feature_platform_tests.defs.helpers import definitions_for, publish_step_seconds, purchase_rows
from feature_platform_tests.sample_platform import SampleWarehouse


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def test_window_contains_wraps_midnight_and_names_bad_input() -> None:
    night = BackfillWindow.parse("02:00-06:00")
    assert night.contains(_at(2)) and night.contains(_at(5, 59)) and not night.contains(_at(6))
    assert night.next_opening(_at(7)) == _at(2) + timedelta(days=1)
    assert night.next_opening(_at(1)) == _at(2)
    wrap = BackfillWindow.parse("22:00-04:00")
    assert wrap.contains(_at(23)) and wrap.contains(_at(3)) and not wrap.contains(_at(12))
    for bad in ("2am-6am", "25:00-06:00", "02:00-02:00"):
        with pytest.raises(ConfigError, match="HH:MM|impossible|empty"):
            BackfillWindow.parse(bad)


@pytest.mark.slow
def test_large_backfill_outside_the_window_runs_reduced_or_waits_and_says_so(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    defs = definitions_for(platform_settings)
    end = sample_warehouse.end
    start = end - timedelta(days=3)
    noon = _at(12)
    lines: list[str] = []
    instance = dg.DagsterInstance.ephemeral()
    off_peak = OffPeak(BackfillWindow.parse("02:00-06:00"), OutsideWindow.REDUCED, 250.0, large_partitions=2)
    ranges = run_backfill(defs, instance, user_purchase_activity, start, end, off_peak=off_peak, now=noon,
                          log=lines.append)
    assert "outside the backfill window 02:00-06:00 UTC: running now with the online writes held to 250 rows/s" in "\n".join(lines)
    (run,) = instance.get_runs()
    config = run.run_config["resources"]["feature_platform"]["config"]
    assert config["online_write_rate_limit"] == 250.0 and config["data_dir"] == str(platform_settings.data_dir)
    assert ranges and run.is_success

    waits: list[float] = []
    lines.clear()
    off_peak = OffPeak(BackfillWindow.parse("02:00-06:00"), OutsideWindow.WAIT, large_partitions=2)
    run_backfill(defs, instance, user_purchase_activity, start, end, force=True, off_peak=off_peak, now=noon,
                 log=lines.append, sleep=waits.append)
    assert waits == [14 * 3600.0]  # noon -> 02:00 the next day
    assert "waiting until 2026-11-27T02:00:00+00:00" in "\n".join(lines)
    assert "online_write_rate_limit" not in str(instance.get_runs()[0].run_config)

    lines.clear()  # small backfills and backfills inside the window run as usual, silently
    run_backfill(defs, instance, user_purchase_activity, end - timedelta(days=1), end, force=True,
                 off_peak=off_peak, now=noon, log=lines.append, sleep=waits.append)
    run_backfill(defs, instance, user_purchase_activity, start, end, force=True, off_peak=off_peak, now=_at(3),
                 log=lines.append, sleep=waits.append)
    assert len(waits) == 1 and not any("backfill window" in line for line in lines)


def _window_excluding(now: datetime) -> str:
    opens = now + timedelta(hours=2)
    return f"{opens:%H}:00-{opens + timedelta(hours=1):%H}:00"


@pytest.mark.slow
def test_a_backfill_launched_from_the_ui_outside_the_window_publishes_at_the_reduced_rate(
    platform_settings: Settings, sample_warehouse: SampleWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs of a Dagster backfill (tag dagster/backfill) keep the deployment's window too."""
    window = _window_excluding(datetime.now(UTC))
    monkeypatch.setenv("FEATURE_PLATFORM_BACKFILL__WINDOW", window)
    monkeypatch.setenv("FEATURE_PLATFORM_BACKFILL__REDUCED_RATE", "500")
    monkeypatch.setenv("FEATURE_PLATFORM_BACKFILL__LARGE_PARTITIONS", "0")
    day = sample_warehouse.end - timedelta(days=1)
    n = 2_000
    OfflineStore(platform_settings.offline_dir).write_partitions(
        user_purchase_activity, day, day + timedelta(days=1), purchase_rows(day, n)
    )
    defs = definitions_for(platform_settings)
    job = defs.resolve_job_def("daily_feature_views_job")
    selection = [dg.AssetKey(["online", user_purchase_activity.name])]
    step_key = f"online__{user_purchase_activity.name}"
    key = Partitioning.DAILY.key_for(day)

    def publish_seconds(tags: dict[str, str]) -> tuple[float, dg.ExecuteInProcessResult, dg.DagsterInstance]:
        instance = dg.DagsterInstance.ephemeral()
        result = job.execute_in_process(
            instance=instance, asset_selection=selection, tags={**partition_range_tags(key, key), **tags}
        )
        assert result.success
        return publish_step_seconds(instance, result.run_id, step_key), result, instance

    # The same run outside a backfill is not held back (and writes the rows once).
    unheld, result, _ = publish_seconds({})
    assert result.asset_materializations_for_node(step_key)[0].metadata["written"].value == n
    assert unheld < 2.0
    redis.Redis.from_url(platform_settings.redis_url).flushall()

    held, result, instance = publish_seconds({"dagster/backfill": "ui-backfill"})
    metadata = result.asset_materializations_for_node(step_key)[0].metadata
    assert metadata["written"].value == n and metadata["off_peak_rate_limit"].value == 500.0
    # 2,000 entities at 500 rows/s: about 4 s.
    assert 3.6 <= held <= 8.0
    warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.step_key == step_key]
    assert any(
        f"outside the backfill window {window} UTC: running now with the online writes held to 500 rows/s" in line
        for line in warnings
    )


def test_a_ui_backfill_with_outside_window_wait_waits_for_the_window() -> None:
    off_peak = OffPeak(BackfillWindow.parse("02:00-06:00"), OutsideWindow.WAIT, large_partitions=2)
    waits: list[float] = []
    lines: list[str] = []
    backfill = {"dagster/backfill": "b1"}
    rate = off_peak_rate(off_peak, backfill, 3, "The backfill run of v", log=lines.append, now=_at(12), sleep=waits.append)
    assert rate is None and waits == [14 * 3600.0]
    assert "The backfill run of v (3 partitions) is large" in lines[0] and "waiting until 2026-11-27T02:00:00" in lines[0]
    # Not a backfill, a small one, or inside the window: as usual, silently.
    for tags, partitions, now in (({}, 3, _at(12)), (backfill, 2, _at(12)), (backfill, 3, _at(3))):
        assert off_peak_rate(off_peak, tags, partitions, "v", log=lines.append, now=now, sleep=waits.append) is None
    assert len(lines) == 1 and len(waits) == 1
