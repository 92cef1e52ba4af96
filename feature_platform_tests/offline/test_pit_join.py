"""Deterministic point-in-time join cases: the worked example, ordering, ties, nulls, errors, outputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_platform.errors import (
    ConfigError,
    FeatureNameCollisionError,
    MissingColumnError,
    SchemaError,
    TimestampError,
)
from feature_platform.offline import FeatureTable, point_in_time_join


def jan(day: int, hour: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC) + timedelta(microseconds=micro)


def worked_features(days: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1] * len(days),
            "event_timestamp": [jan(d) for d in days],
            "created_timestamp": [jan(20)] * len(days),
            "purchases": [d * 10 for d in days],
        }
    )


def user_table(
    source: object, ttl: timedelta | None = timedelta(days=5), **kwargs: object
) -> FeatureTable:
    return FeatureTable(
        name="activity",
        source=source,  # type: ignore[arg-type]
        join_keys=["user_id"],
        features=kwargs.pop("features", ["purchases"]),  # type: ignore[arg-type]
        ttl=ttl,
        **kwargs,  # type: ignore[arg-type]
    )


def entity(times: list[datetime], users: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"user_id": users or [1] * len(times), "event_timestamp": times})


def test_worked_example_of_semantics() -> None:
    full = user_table(worked_features([10, 12, 14, 16, 18]))
    result = point_in_time_join(entity([jan(13), jan(17)]), [full])
    assert result["purchases"].tolist() == [120, 160]
    only_two = point_in_time_join(entity([jan(17)]), [user_table(worked_features([10, 12]))])
    assert only_two["purchases"].tolist() == [120]  # age exactly 5 days: not expired
    only_one = point_in_time_join(entity([jan(17)]), [user_table(worked_features([10]))])
    assert only_one["purchases"].isna().tolist() == [True]  # 7 days old: expired


def test_strict_by_default_and_inclusive_on_request() -> None:
    table = user_table(worked_features([10, 12]))
    rows = entity([jan(12)])
    assert point_in_time_join(rows, [table])["purchases"].tolist() == [100]
    assert point_in_time_join(rows, [table], inclusive=True)["purchases"].tolist() == [120]


def test_ttl_bound_is_inclusive_to_the_microsecond() -> None:
    table = user_table(worked_features([10]))
    rows = entity([jan(15), jan(15, micro=1)])
    assert point_in_time_join(rows, [table])["purchases"].tolist()[0] == 100
    assert pd.isna(point_in_time_join(rows, [table])["purchases"].tolist()[1])


def test_largest_created_timestamp_wins_a_tie_whatever_the_row_order() -> None:
    features = pd.DataFrame(
        {
            "user_id": [1, 1, 1],
            "event_timestamp": [jan(10), jan(10), jan(10)],
            "created_timestamp": [jan(11), jan(13), jan(12)],
            "purchases": [1, 3, 2],
        }
    )
    for frame in (features, features.iloc[::-1]):
        result = point_in_time_join(entity([jan(11)]), [user_table(frame)])
        assert result["purchases"].tolist() == [3]


def test_newer_null_never_falls_back_to_an_older_value() -> None:
    features = worked_features([10, 12]).astype({"purchases": "Int64"})
    features.loc[1, "purchases"] = None
    result = point_in_time_join(entity([jan(13)]), [user_table(features)])
    assert result["purchases"].isna().tolist() == [True]


def test_every_entity_row_once_in_order_with_columns_and_index_unchanged() -> None:
    rows = pd.DataFrame(
        {
            "user_id": [2, 1, 1, 3, 1],
            "event_timestamp": [jan(13), jan(17), jan(13), jan(13), jan(17)],
            "label": ["x", "y", "z", "w", "y"],
            "weight": [0.5, 1.5, 2.5, 3.5, 1.5],
        },
        index=[40, 30, 20, 10, 30],
    )
    before = rows.copy()
    result = point_in_time_join(rows, [user_table(worked_features([10, 12, 14, 16, 18]))])
    pd.testing.assert_frame_equal(rows, before)  # the caller's frame is not modified
    pd.testing.assert_frame_equal(result[list(rows.columns)], rows)
    assert result["purchases"].tolist()[1:] == [160, 120, pd.NA, 160]
    assert pd.isna(result["purchases"].iloc[0])


def test_composite_keys_and_several_tables_in_one_call() -> None:
    by_region = pd.DataFrame(
        {
            "user_id": [1, 1],
            "region": ["eu", "us"],
            "event_timestamp": [jan(10), jan(11)],
            "created_timestamp": [jan(10), jan(11)],
            "clicks": [7, 8],
        }
    )
    tables = [
        user_table(worked_features([10, 12])),
        FeatureTable("clicks", by_region, ["user_id", "region"], ["clicks"]),
    ]
    rows = pd.DataFrame(
        {"user_id": [1, 1, 1], "region": ["us", "eu", "fr"], "event_timestamp": [jan(13)] * 3}
    )
    result = point_in_time_join(rows, tables, full_feature_names=True)
    assert result["activity__purchases"].tolist() == [120, 120, 120]
    assert result["clicks__clicks"].tolist()[:2] == [8, 7]
    assert pd.isna(result["clicks__clicks"].iloc[2])


def test_naive_and_aware_timestamps_mean_the_same_instants() -> None:
    features = worked_features([10, 12, 14])
    naive = features.assign(
        event_timestamp=features["event_timestamp"].dt.tz_localize(None),
        created_timestamp=features["created_timestamp"].dt.tz_localize(None),
    )
    aware_rows = entity([jan(12, 3), jan(14, 1)])
    tokyo_rows = aware_rows.assign(
        event_timestamp=aware_rows["event_timestamp"].dt.tz_convert("Asia/Tokyo")
    )
    naive_rows = aware_rows.assign(
        event_timestamp=aware_rows["event_timestamp"].dt.tz_localize(None)
    )
    expected = [120, 140]
    for rows in (aware_rows, tokyo_rows, naive_rows):
        for frame in (features, naive):
            assert point_in_time_join(rows, [user_table(frame)])["purchases"].tolist() == expected


def test_arrow_output_and_parquet_output_match_pandas(tmp_path: Path) -> None:
    rows = entity([jan(13), jan(9), jan(17)])
    table = user_table(worked_features([10, 12, 14, 16]))
    frame = point_in_time_join(rows, [table])
    arrow = point_in_time_join(pa.Table.from_pandas(rows), [table], output="arrow")
    assert isinstance(arrow, pa.Table)
    assert arrow.column("purchases").to_pylist() == [120, None, 160]
    written = point_in_time_join(rows, [table], to_parquet=tmp_path / "out" / "train.parquet")
    assert written == tmp_path / "out" / "train.parquet"
    assert pq.read_table(written).equals(arrow)
    assert frame["purchases"].tolist()[0::2] == [120, 160]
    # An entity Parquet path works as well.
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), tmp_path / "entities.parquet")
    from_path = point_in_time_join(str(tmp_path / "entities.parquet"), [table], output="arrow")
    assert from_path.equals(arrow)


def test_empty_entity_frame_gives_empty_result_with_feature_columns() -> None:
    rows = entity([]).astype({"user_id": "int64", "event_timestamp": "datetime64[us, UTC]"})
    result = point_in_time_join(rows, [user_table(worked_features([10]))])
    assert list(result.columns) == ["user_id", "event_timestamp", "purchases"]
    assert len(result) == 0


def test_feature_name_collision_is_an_error_unless_full_names() -> None:
    first = user_table(worked_features([10]))
    second = FeatureTable("other", worked_features([10]), ["user_id"], ["purchases"])
    with pytest.raises(FeatureNameCollisionError, match="'purchases'.*full_feature_names"):
        point_in_time_join(entity([jan(13)]), [first, second])
    result = point_in_time_join(entity([jan(13)]), [first, second], full_feature_names=True)
    assert list(result.columns)[-2:] == ["activity__purchases", "other__purchases"]
    clash = entity([jan(13)]).assign(purchases=1)
    with pytest.raises(FeatureNameCollisionError, match="entity_df column"):
        point_in_time_join(clash, [first])


def test_timestamp_errors_name_the_column() -> None:
    good = user_table(worked_features([10]))
    text_times = entity([jan(13)]).assign(event_timestamp=["2026-01-13"])
    with pytest.raises(TimestampError, match="'event_timestamp' of entity_df"):
        point_in_time_join(text_times, [good])
    with pytest.raises(TimestampError, match="'event_timestamp' of entity_df.*null"):
        point_in_time_join(entity([jan(13), None]), [good])  # type: ignore[list-item]
    bad_feature = worked_features([10]).assign(created_timestamp=[5])
    with pytest.raises(TimestampError, match="'created_timestamp' of feature table 'activity'"):
        point_in_time_join(entity([jan(13)]), [user_table(bad_feature)])
    rows = entity([jan(13)]).rename(columns={"event_timestamp": "ts"})
    assert point_in_time_join(rows, [good], entity_timestamp_column="ts")["purchases"].tolist() == [
        100
    ]
    nanos = entity([jan(13)]).astype({"event_timestamp": "datetime64[ns, UTC]"})
    nanos["event_timestamp"] += pd.Timedelta(1, "ns")
    with pytest.raises(TimestampError, match="finer than a microsecond"):
        point_in_time_join(nanos, [good])


def test_missing_columns_are_named() -> None:
    good = user_table(worked_features([10]))
    with pytest.raises(MissingColumnError, match="'user_id' is missing from entity_df"):
        point_in_time_join(entity([jan(13)]).drop(columns=["user_id"]), [good])
    with pytest.raises(MissingColumnError, match="'event_timestamp' is missing from entity_df"):
        point_in_time_join(entity([jan(13)]).drop(columns=["event_timestamp"]), [good])
    no_feature = user_table(worked_features([10]).drop(columns=["purchases"]))
    with pytest.raises(MissingColumnError, match="'purchases' is missing from feature table"):
        point_in_time_join(entity([jan(13)]), [no_feature])
    no_key = user_table(worked_features([10]).drop(columns=["user_id"]))
    with pytest.raises(MissingColumnError, match="'user_id' is missing from feature table"):
        point_in_time_join(entity([jan(13)]), [no_key])


def test_key_type_mismatch_names_the_column() -> None:
    good = user_table(worked_features([10]))
    with pytest.raises(SchemaError, match="Join key 'user_id'.*string.*int64"):
        point_in_time_join(entity([jan(13)]).astype({"user_id": str}), [good])
    # Integer widths and pandas' float-for-nullable-int are comparable.
    int32 = entity([jan(13)]).astype({"user_id": "int32"})
    assert point_in_time_join(int32, [good])["purchases"].tolist() == [100]
    with_missing = pd.DataFrame({"user_id": [1.0, None], "event_timestamp": [jan(13)] * 2})
    result = point_in_time_join(with_missing, [good])
    assert result["purchases"].tolist()[0] == 100 and pd.isna(result["purchases"].iloc[1])
    fractional = pd.DataFrame({"user_id": [1.5], "event_timestamp": [jan(13)]})
    with pytest.raises(SchemaError, match="'user_id'"):
        point_in_time_join(fractional, [good])


def test_bad_options_are_config_errors() -> None:
    good = user_table(worked_features([10]))
    with pytest.raises(ConfigError, match="engine"):
        point_in_time_join(entity([jan(13)]), [good], engine="polars")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="spark=<SparkSession>"):
        point_in_time_join(entity([jan(13)]), [good], engine="spark")
    with pytest.raises(ConfigError, match="output"):
        point_in_time_join(entity([jan(13)]), [good], output="polars")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="duckdb_memory_limit='lots'"):
        point_in_time_join(entity([jan(13)]), [good], duckdb_memory_limit="lots")
    # "auto" without a Spark session runs on DuckDB.
    assert point_in_time_join(entity([jan(13)]), [good], engine="auto")["purchases"].tolist() == [
        100
    ]


def test_exact_duplicate_rows_of_a_raw_source_keep_the_last_one(tmp_path: Path) -> None:
    features = pd.DataFrame(
        {
            "user_id": [1, 1, 1],
            "event_timestamp": [jan(10)] * 3,
            "created_timestamp": [jan(10)] * 3,
            "purchases": [1, 2, 3],
        }
    )
    assert point_in_time_join(entity([jan(11)]), [user_table(features)])["purchases"].tolist() == [
        3
    ]
    features.iloc[:2].to_parquet(tmp_path / "a.parquet", index=False)
    features.iloc[2:].iloc[::-1].assign(purchases=[9]).to_parquet(
        tmp_path / "b.parquet", index=False
    )
    source = str(tmp_path / "*.parquet")
    assert point_in_time_join(entity([jan(11)]), [user_table(source)])["purchases"].tolist() == [9]
    streamed = point_in_time_join(
        entity([jan(11)]), [user_table(source)], to_parquet=tmp_path / "out" / "train.parquet"
    )
    assert pq.read_table(streamed).column("purchases").to_pylist() == [9]


def test_parquet_glob_whose_first_file_is_empty(tmp_path: Path) -> None:
    features = worked_features([10, 12]).assign(region=["eu", "eu"])
    features.iloc[:0].astype({"region": object}).to_parquet(tmp_path / "a.parquet", index=False)
    features.to_parquet(tmp_path / "b.parquet", index=False)
    table = FeatureTable(
        "activity", str(tmp_path / "*.parquet"), ["user_id", "region"], ["purchases"]
    )
    rows = entity([jan(13)]).assign(region=["eu"])
    assert point_in_time_join(rows, [table])["purchases"].tolist() == [120]


@pytest.mark.parametrize("deduplicated", [False, True])
def test_parquet_files_with_reordered_and_extra_columns_match_by_name(
    tmp_path: Path, deduplicated: bool
) -> None:
    features = worked_features([10, 12])
    features.iloc[:1].to_parquet(tmp_path / "a.parquet", index=False)
    # The later file has its columns in another order and one more column.
    later = features.iloc[1:].assign(note=["x"])
    later[["purchases", "note", "event_timestamp", "user_id", "created_timestamp"]].to_parquet(
        tmp_path / "b.parquet", index=False
    )
    table = user_table(str(tmp_path / "*.parquet"), deduplicated=deduplicated)
    result = point_in_time_join(entity([jan(11), jan(13)]), [table])
    assert result["purchases"].tolist() == [100, 120]
    streamed = point_in_time_join(
        entity([jan(11), jan(13)]), [table], to_parquet=tmp_path / "out" / "train.parquet"
    )
    assert pq.read_table(streamed).column("purchases").to_pylist() == [100, 120]


def test_null_join_keys_in_parquet_files_match_nothing(tmp_path: Path) -> None:
    features = pa.table(
        {
            "user_id": pa.array([1, None, None], pa.int64()),
            "event_timestamp": pa.array([jan(10), jan(11), jan(12)], pa.timestamp("us", "UTC")),
            "created_timestamp": pa.array([jan(20)] * 3, pa.timestamp("us", "UTC")),
            "purchases": pa.array([100, 7, 8], pa.int64()),
        }
    )
    pq.write_table(features, tmp_path / "features.parquet")
    rows = pa.table(
        {
            "user_id": pa.array([1, None], pa.int64()),
            "event_timestamp": pa.array([jan(13), jan(13)], pa.timestamp("us", "UTC")),
        }
    )
    for deduplicated in (False, True):
        table = user_table(str(tmp_path / "*.parquet"), deduplicated=deduplicated)
        result = point_in_time_join(rows, [table], output="arrow")
        assert result.column("purchases").to_pylist() == [100, None]


def test_raw_files_inside_and_across_the_window_keep_their_source_order(tmp_path: Path) -> None:
    def write(name: str, rows: list[tuple[int, datetime, int]]) -> None:
        pq.write_table(
            pa.table(
                {
                    "user_id": pa.array([r[0] for r in rows], pa.int64()),
                    "event_timestamp": pa.array([r[1] for r in rows], pa.timestamp("us", "UTC")),
                    "created_timestamp": pa.array([jan(1)] * len(rows), pa.timestamp("us", "UTC")),
                    "purchases": pa.array([r[2] for r in rows], pa.int64()),
                }
            ),
            tmp_path / name,
        )

    # With a 5-day ttl and entity times Jan 12 and 14 the window is [Jan 7, Jan 14]: a.parquet
    # and c.parquet reach outside it (filtered scans), b.parquet lies inside (unfiltered).
    write("a.parquet", [(1, jan(1), 10), (1, jan(10), 11)])
    write("b.parquet", [(2, jan(11), 50), (1, jan(11), 1)])
    # An exact duplicate of b's last row, earlier in its own file: the last in source
    # order (this one) wins only if positions count files across the separate scans.
    write("c.parquet", [(1, jan(11), 2), (1, jan(20), 99)])
    table = user_table(str(tmp_path / "*.parquet"))
    result = point_in_time_join(entity([jan(12), jan(14), jan(11)]), [table])
    assert result["purchases"].tolist() == [2, 2, 11]


@pytest.mark.parametrize("deduplicated", [False, True])
def test_rows_without_an_event_time_never_match(tmp_path: Path, deduplicated: bool) -> None:
    # Every event time the file holds lies inside the window, so it is scanned unfiltered.
    stamp = pa.timestamp("us", "UTC")
    features = pa.table(
        {
            "user_id": pa.array([1, 1, 2], pa.int64()),
            "event_timestamp": pa.array([jan(10), None, None], stamp),
            "created_timestamp": pa.array([jan(10), jan(11), jan(11)], stamp),
            "purchases": pa.array([5, 7, 8], pa.int64()),
        }
    )
    pq.write_table(features, tmp_path / "features.parquet")
    rows = pa.table(
        {"user_id": pa.array([1, 2], pa.int64()), "event_timestamp": pa.array([jan(12)] * 2, stamp)}
    )
    table = user_table(str(tmp_path / "*.parquet"), deduplicated=deduplicated)
    for inclusive in (False, True):
        result = point_in_time_join(rows, [table], inclusive=inclusive, output="arrow")
        assert result.column("purchases").to_pylist() == [5, None]
