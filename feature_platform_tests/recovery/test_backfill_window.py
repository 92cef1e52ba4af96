"""Off-peak execution: a large backfill outside the deployment's window waits or slows down."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from feature_platform.defs.backfill import run_backfill
from feature_platform.errors import ConfigError
from feature_platform.feature_repo.views import user_purchase_activity
from feature_platform.materialization.backfill_window import BackfillWindow, OffPeak, OutsideWindow
from feature_platform.settings import Settings
from feature_platform_tests.defs.helpers import definitions_for
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
