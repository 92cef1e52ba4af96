"""land_batch: extra raw rows land atomically under their ingestion dates, or not at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_platform.errors import ConfigError, MissingColumnError, SchemaError
from feature_platform.sample_data import RAW_SCHEMAS, land_batch

DAY1 = datetime(2026, 1, 14, 23, 30, tzinfo=UTC)


def orders(ingested: list[datetime], *, naive: bool = False) -> pd.DataFrame:
    n = len(ingested)
    frame = pd.DataFrame(
        {
            "order_id": range(1000, 1000 + n),
            "user_id": [7] * n,
            "ordered_at": [DAY1 - timedelta(hours=1, minutes=i) for i in range(n)],
            "amount": [9.5] * n,
            "items": [1] * n,
            "ingested_at": ingested,
        }
    )
    if naive:
        for column in ("ordered_at", "ingested_at"):
            frame[column] = frame[column].dt.tz_localize(None)
    return frame


def parquet_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_rows_land_under_each_ingestion_date(tmp_path: Path) -> None:
    rows = orders([DAY1, DAY1 + timedelta(hours=1), DAY1 + timedelta(hours=2)])
    paths = land_batch(tmp_path, "orders", rows, batch_id="late-1")
    assert [str(p.relative_to(tmp_path)) for p in paths] == [
        "orders/ingest_date=2026-01-14/part-batch-late-1.parquet",
        "orders/ingest_date=2026-01-15/part-batch-late-1.parquet",
    ]
    assert parquet_files(tmp_path) == [str(p.relative_to(tmp_path)) for p in paths]
    first, second = (pq.read_table(p) for p in paths)
    assert first.schema.equals(RAW_SCHEMAS["orders"])
    assert first.column("order_id").to_pylist() == [1000]
    assert second.column("order_id").to_pylist() == [1001, 1002]


def test_naive_timestamps_are_read_as_utc(tmp_path: Path) -> None:
    (path,) = land_batch(tmp_path, "orders", orders([DAY1], naive=True), batch_id="b")
    landed = pq.read_table(path).to_pandas()
    assert landed["ingested_at"].iloc[0] == pd.Timestamp(DAY1)


def test_arrow_input_and_relanding_a_batch_replaces_it(tmp_path: Path) -> None:
    land_batch(tmp_path, "orders", orders([DAY1, DAY1]), batch_id="b")
    (path,) = land_batch(tmp_path, "orders", pa.Table.from_pandas(orders([DAY1])), batch_id="b")
    assert pq.read_table(path).num_rows == 1
    land_batch(tmp_path, "orders", orders([DAY1]), batch_id="c")
    assert len(list((tmp_path / "orders").rglob("*.parquet"))) == 2


def test_missing_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(MissingColumnError, match="'amount'.*orders"):
        land_batch(tmp_path, "orders", orders([DAY1]).drop(columns="amount"), batch_id="b")
    assert parquet_files(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(coupon="X"), "'coupon' is not part of raw table 'orders'"),
        (lambda f: f.assign(items="many"), "'items' of raw table 'orders' holds text"),
        (lambda f: f.assign(amount="12.5"), "'amount' of raw table 'orders' holds text .*'12.5'.* wants double"),
        (lambda f: f.assign(items="3"), "'items' of raw table 'orders' holds text"),
        (lambda f: f.assign(amount=None), "'amount'.*null"),
        (
            lambda f: f.assign(ordered_at=f["ordered_at"].astype("datetime64[ns, UTC]") + pd.Timedelta(nanoseconds=1)),
            "'ordered_at' of raw table 'orders' has values finer than a microsecond",
        ),
        (
            lambda f: f.assign(ingested_at=f["ordered_at"] - timedelta(seconds=1)),
            "ingested_at before ordered_at",
        ),
        (lambda f: f.iloc[:0], "no rows"),
    ],
)
def test_bad_rows_are_rejected_with_the_column_named(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError, match=message):
        land_batch(tmp_path, "orders", change(orders([DAY1])), batch_id="b")
    assert parquet_files(tmp_path) == []


def test_unknown_table_and_unsafe_batch_id(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="'refunds' does not exist"):
        land_batch(tmp_path, "refunds", orders([DAY1]), batch_id="b")
    with pytest.raises(ConfigError, match="batch_id"):
        land_batch(tmp_path, "orders", orders([DAY1]), batch_id="../escape")


def test_a_failed_write_lands_nothing(tmp_path: Path) -> None:
    # The second day's folder cannot be created (a file is in the way) after the first
    # day's file was already written aside: that first file must not appear either.
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "ingest_date=2026-01-15").write_text("in the way")
    with pytest.raises(OSError):
        land_batch(tmp_path, "orders", orders([DAY1, DAY1 + timedelta(hours=1)]), batch_id="b")
    assert parquet_files(tmp_path) == ["orders/ingest_date=2026-01-15"]
    assert list((tmp_path / "orders" / "ingest_date=2026-01-14").iterdir()) == []
