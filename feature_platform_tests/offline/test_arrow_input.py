"""Reading Parquet footers: event-time ranges from row-group statistics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_platform.offline.arrow_input import read_parquet_footer, timestamp_range_micros

JAN_1 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in micros


@pytest.mark.parametrize(
    ("unit", "tz", "values", "expected"),
    [
        ("us", "UTC", [JAN_1 + 7, JAN_1 + 3, JAN_1 + 9], (JAN_1 + 3, JAN_1 + 9)),
        ("ms", None, [1_767_225_600_001, 1_767_225_600_000], (JAN_1, JAN_1 + 1000)),
        # Nanoseconds: the range is widened to whole micros, never narrowed.
        ("ns", "UTC", [JAN_1 * 1000 + 1500, JAN_1 * 1000 + 2500], (JAN_1 + 1, JAN_1 + 3)),
    ],
)
def test_range_of_a_timestamp_column_over_row_groups(
    tmp_path: Path, unit: str, tz: str | None, values: list[int], expected: tuple[int, int]
) -> None:
    path = tmp_path / "f.parquet"
    table = pa.table({"t": pa.array(values, pa.timestamp(unit, tz)), "x": [1] * len(values)})
    pq.write_table(table, path, row_group_size=1)
    footer = read_parquet_footer(str(path))
    assert footer.num_row_groups == len(values)
    assert timestamp_range_micros(footer, "t") == expected


def test_no_range_without_statistics_or_for_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    table = pa.table({"t": pa.array([datetime(2026, 1, 1, tzinfo=UTC)]), "x": [1]})
    pq.write_table(table, path, write_statistics=False)
    assert timestamp_range_micros(read_parquet_footer(str(path)), "t") is None
    pq.write_table(table, path)
    footer = read_parquet_footer(str(path))
    assert timestamp_range_micros(footer, "t") == (JAN_1, JAN_1)
    assert timestamp_range_micros(footer, "x") is None
    assert timestamp_range_micros(footer, "missing") is None
