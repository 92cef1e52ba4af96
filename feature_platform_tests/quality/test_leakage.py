"""The leakage check: rows from after their partition's materialization fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from feature_platform.errors import MissingColumnError, TimestampError
from feature_platform.quality import check_no_future_rows

MATERIALIZED = datetime(2026, 1, 16, 0, 5, tzinfo=UTC)


def rows(offsets: list[timedelta]) -> pa.Table:
    return pa.table(
        {
            "user_id": list(range(len(offsets))),
            "event_timestamp": pa.array(
                [MATERIALIZED + o for o in offsets], pa.timestamp("us", tz="UTC")
            ),
        }
    )


def test_rows_up_to_the_materialization_time_pass() -> None:
    report = check_no_future_rows(rows([-timedelta(hours=5), timedelta(0)]), MATERIALIZED)
    assert report.success
    assert report.future_row_count == 0
    assert report.max_event_timestamp == MATERIALIZED


def test_rows_after_the_materialization_time_fail_with_count_and_samples() -> None:
    offsets = [-timedelta(hours=1)] + [timedelta(microseconds=1)] + [timedelta(days=1)] * 6
    report = check_no_future_rows(rows(offsets), MATERIALIZED)
    assert not report.success
    assert report.future_row_count == 7
    assert report.row_count == 8
    assert len(report.samples) == 5
    assert report.samples[0] == {
        "row": 1,
        "user_id": 1,
        "event_timestamp": (MATERIALIZED + timedelta(microseconds=1)).isoformat(),
    }
    assert report.max_event_timestamp == MATERIALIZED + timedelta(days=1)
    assert "7 of 8 rows" in report.summary()
    assert report.to_metadata()["future_row_count"] == 7


def test_pandas_rows_naive_times_are_utc_and_nulls_are_not_future() -> None:
    frame = pd.DataFrame(
        {"event_timestamp": pd.to_datetime(["2026-01-16 00:05:00", None, "2026-01-16 00:05:01"])}
    )
    report = check_no_future_rows(frame, MATERIALIZED)
    assert report.future_row_count == 1
    assert report.samples[0]["row"] == 2


def test_missing_or_untyped_column_raises() -> None:
    with pytest.raises(MissingColumnError, match="event_timestamp"):
        check_no_future_rows(pd.DataFrame({"x": [1]}), MATERIALIZED)
    with pytest.raises(TimestampError, match="must hold timestamps"):
        check_no_future_rows(pd.DataFrame({"event_timestamp": ["yesterday"]}), MATERIALIZED)
