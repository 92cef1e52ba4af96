"""The sample-data generator: deterministic, sized as documented, late rows and landing layout as promised."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from feature_platform.errors import ConfigError
from feature_platform.sample_data import (
    EVENT_TIME_COLUMNS,
    RAW_SCHEMAS,
    SampleSummary,
    generate_sample_data,
    land_batch,
)
from feature_platform.sample_data.raw_schema import COUNTRIES, PAGES, PLANS

END = datetime(2026, 1, 15, tzinfo=UTC)
ID_COLUMNS = {"users": ["user_id", "updated_at"], "orders": ["order_id"], "page_views": ["view_id"]}


def read_table(landing_dir: Path, table: str) -> pd.DataFrame:
    files = sorted((landing_dir / table).glob("ingest_date=*/*.parquet"))
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def landed_bytes(landing_dir: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(landing_dir)): path.read_bytes()
        for path in sorted(landing_dir.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary, float]:
    landing = tmp_path_factory.mktemp("default") / "landing"
    started = time.perf_counter()
    summary = generate_sample_data(landing, end=END)
    return landing, summary, time.perf_counter() - started


def test_default_size_and_speed(default_sample: tuple[Path, SampleSummary, float]) -> None:
    landing, summary, seconds = default_sample
    assert seconds < 10, f"generating the default sample took {seconds:.1f} s"
    assert summary.user_ids == tuple(range(1, 501))
    assert 5_000 <= summary.row_counts["orders"] <= 20_000
    assert 50_000 <= summary.row_counts["page_views"] <= 150_000
    assert summary.row_counts["users"] > 500  # plus later plan changes
    for table in RAW_SCHEMAS:
        assert len(read_table(landing, table)) == summary.row_counts[table]
    assert summary.start == END - timedelta(days=14)
    assert summary.end == END


def test_same_arguments_give_identical_bytes(
    tmp_path: Path, default_sample: tuple[Path, SampleSummary, float]
) -> None:
    landing, summary, _ = default_sample
    again = generate_sample_data(tmp_path / "again", end=END)
    assert again == summary
    assert landed_bytes(tmp_path / "again") == landed_bytes(landing)


def test_other_seed_gives_other_data(tmp_path: Path) -> None:
    a = generate_sample_data(tmp_path / "a", end=END, days=3, n_users=40, seed=1)
    b = generate_sample_data(tmp_path / "b", end=END, days=3, n_users=40, seed=2)
    assert a.row_counts != b.row_counts or not read_table(tmp_path / "a", "orders").equals(
        read_table(tmp_path / "b", "orders")
    )
    assert not read_table(tmp_path / "a", "users").equals(read_table(tmp_path / "b", "users"))


def test_files_have_the_raw_schema_and_sit_in_their_ingestion_date(
    default_sample: tuple[Path, SampleSummary, float],
) -> None:
    landing, _, _ = default_sample
    for table, schema in RAW_SCHEMAS.items():
        folders = sorted((landing / table).iterdir())
        assert folders, table
        for folder in folders:
            assert folder.name.startswith("ingest_date=")
            assert [f.name for f in folder.iterdir()] == ["part-0.parquet"]
            data = pq.read_table(folder / "part-0.parquet")
            assert data.schema.equals(schema), table
            ingest_dates = {d.isoformat() for d in data.column("ingested_at").to_pandas().dt.date}
            assert ingest_dates == {folder.name.removeprefix("ingest_date=")}


def test_times_are_inside_the_window_and_nothing_arrives_at_or_after_end(
    default_sample: tuple[Path, SampleSummary, float],
) -> None:
    landing, summary, _ = default_sample
    for table, event_column in EVENT_TIME_COLUMNS.items():
        frame = read_table(landing, table)
        assert frame[event_column].min() >= pd.Timestamp(summary.start)
        assert frame["ingested_at"].max() < pd.Timestamp(END)
        assert (frame["ingested_at"] >= frame[event_column]).all()
        assert str(frame[event_column].dt.tz) == "UTC"
        # No two distinct events of one user share a timestamp (re-deliveries share their id).
        distinct = frame.drop_duplicates(ID_COLUMNS[table])
        assert not distinct.duplicated(["user_id", event_column]).any(), table


def test_late_rows_are_about_the_fraction_and_two_to_48_hours_late(tmp_path: Path) -> None:
    summary = generate_sample_data(tmp_path / "landing", end=END, late_fraction=0.05)
    for table, event_column in EVENT_TIME_COLUMNS.items():
        frame = read_table(tmp_path / "landing", table)
        delay = frame["ingested_at"] - frame[event_column]
        late = delay >= pd.Timedelta(hours=2)
        assert late.sum() == summary.late_rows_by_table[table]
        assert (delay[late] <= pd.Timedelta(hours=48)).all()
        assert (delay[~late] <= pd.Timedelta(minutes=90)).all()
        if table != "users":  # a few hundred profile rows are too few for a tight ratio
            # Late rows near the end have not arrived yet, so a little under 5 % land.
            assert 0.035 <= late.mean() <= 0.055, (table, late.mean())
    assert summary.late_rows == sum(summary.late_rows_by_table.values()) > 0


def test_no_late_rows_when_the_fraction_is_zero(tmp_path: Path) -> None:
    summary = generate_sample_data(
        tmp_path / "landing", end=END, days=3, n_users=50, late_fraction=0
    )
    assert summary.late_rows == 0
    orders = read_table(tmp_path / "landing", "orders")
    assert (orders["ingested_at"] - orders["ordered_at"]).max() < pd.Timedelta(hours=2)


def test_redeliveries_repeat_a_row_with_a_later_ingestion_time(
    default_sample: tuple[Path, SampleSummary, float],
) -> None:
    landing, summary, _ = default_sample
    for table, keys in ID_COLUMNS.items():
        frame = read_table(landing, table)
        repeated = frame[frame.duplicated(keys, keep=False)].sort_values([*keys, "ingested_at"])
        assert len(repeated) == 2 * summary.duplicate_rows[table] > 0, table
        firsts, seconds = repeated.iloc[::2], repeated.iloc[1::2]
        payload = [c for c in frame.columns if c != "ingested_at"]
        assert (firsts[payload].to_numpy() == seconds[payload].to_numpy()).all()
        assert (seconds["ingested_at"].to_numpy() > firsts["ingested_at"].to_numpy()).all()


def test_values_are_in_their_domains(default_sample: tuple[Path, SampleSummary, float]) -> None:
    landing, _, _ = default_sample
    users = read_table(landing, "users")
    assert set(users["country"]) <= set(COUNTRIES) and set(users["plan"]) == set(PLANS)
    assert (users["updated_at"] >= users["signup_at"]).all()
    versions = users.drop_duplicates(["user_id", "updated_at"]).sort_values(
        ["user_id", "updated_at"]
    )
    changed = versions[versions.duplicated("user_id", keep=False)].groupby("user_id")
    assert changed.ngroups > 50
    assert (changed["plan"].nunique() > 1).all()
    assert (changed["country"].nunique() == 1).all()
    orders = read_table(landing, "orders")
    assert (orders["amount"] > 0).all() and (orders["items"] >= 1).all()
    assert set(orders["user_id"]) <= set(users["user_id"])
    views = read_table(landing, "page_views")
    assert set(views["page"]) <= set(PAGES)
    assert (views.groupby("session_id")["user_id"].nunique() == 1).all()


def test_regenerating_replaces_the_landed_tables(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generate_sample_data(landing, end=END, days=2, n_users=20)
    extra = pq.read_table(next((landing / "orders").glob("*/part-0.parquet"))).slice(0, 1)
    batch = land_batch(landing, "orders", extra, batch_id="extra")
    generate_sample_data(landing, end=END, days=2, n_users=20)
    assert not any(path.exists() for path in batch)
    assert sorted(p.name for p in landing.iterdir()) == ["orders", "page_views", "users"]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"end": datetime(2026, 1, 15)}, "end"),
        ({"end": END, "days": 0}, "days"),
        ({"end": END, "n_users": -1}, "n_users"),
        ({"end": END, "late_fraction": 1.5}, "late_fraction"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, arguments: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        generate_sample_data(tmp_path / "landing", **arguments)  # type: ignore[arg-type]
    assert not (tmp_path / "landing").exists()
