"""Conformance: the Spark engine equals the reference and the DuckDB engine, row for row.

Spark jobs cost seconds each, so many random cases are batched into one call: each case's
rows carry a ``case`` number that is part of every join key, which keeps cases apart.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_platform.offline import FeatureTable, OfflineStore, point_in_time_join
from feature_platform_tests.offline.cases import SHAPES, feature_table, random_case, view_for
from feature_platform_tests.offline.reference import reference_join

CASES = 40


def _features(result: Any, names: list[str]) -> list[dict[str, Any]]:
    assert isinstance(result, pa.Table)
    return result.select([n for n in result.column_names if n not in names]).to_pylist()


def test_spark_matches_reference_and_duckdb_on_both_join_strategies(spark: Any) -> None:
    case = random_case(random.Random(20260115), SHAPES, cases=CASES, tz="Asia/Kolkata")
    tables = [feature_table(s, case.frames[s.name]) for s in SHAPES]
    columns = list(case.entity.columns)
    assert len(case.entity) > 150  # enough rows for the batch to mean something
    for inclusive, threshold in ((False, 10**9), (True, 0)):
        expected = reference_join(case.entity, tables, inclusive=inclusive)
        on_duckdb = point_in_time_join(case.entity, tables, inclusive=inclusive, output="arrow")
        on_spark = point_in_time_join(
            case.entity,
            tables,
            inclusive=inclusive,
            engine="spark",
            spark=spark,
            broadcast_threshold_rows=threshold,
            output="arrow",
        )
        assert _features(on_duckdb, columns) == expected
        assert _features(on_spark, columns) == expected
        assert on_spark.equals(on_duckdb)


def test_spark_reads_store_and_parquet_sources_like_duckdb(spark: Any, tmp_path: Path) -> None:
    shapes = [SHAPES[0], SHAPES[1]]
    case = random_case(random.Random(7), shapes, cases=CASES)
    store = OfflineStore(tmp_path / "store")
    view = view_for(shapes[0])
    start, end = datetime(2026, 1, 9, tzinfo=UTC), datetime(2026, 1, 16, tzinfo=UTC)
    store.write_partitions(view, start, end, case.frames[shapes[0].name])
    raw = case.frames[shapes[1].name]
    half = len(raw) // 2
    raw.iloc[:half].to_parquet(tmp_path / "b-0.parquet", index=False)
    raw.iloc[half:].to_parquet(tmp_path / "b-1.parquet", index=False)
    engine_tables: list[FeatureTable] = [
        store.feature_table(view, shapes[0].features),
        feature_table(shapes[1], str(tmp_path / "b-*.parquet")),
    ]
    expected = reference_join(
        case.entity,
        [feature_table(s, case.frames[s.name]) for s in shapes],
        full_feature_names=True,
    )
    results = [
        point_in_time_join(
            case.entity,
            engine_tables,
            full_feature_names=True,
            output="arrow",
            **options,  # type: ignore[arg-type]
        )
        for options in (
            {},
            {"engine": "spark", "spark": spark, "broadcast_threshold_rows": 0},
        )
    ]
    columns = list(case.entity.columns)
    assert _features(results[0], columns) == expected
    assert _features(results[1], columns) == expected
    # to_parquet on Spark: an executor writes the one file, in entity order.
    written = point_in_time_join(
        case.entity,
        engine_tables,
        full_feature_names=True,
        engine="spark",
        spark=spark,
        to_parquet=tmp_path / "out" / "train.parquet",
    )
    assert written == tmp_path / "out" / "train.parquet"
    assert sorted(p.name for p in written.parent.iterdir()) == ["train.parquet"]
    from_file = pq.read_table(written)
    assert _features(from_file, columns) == expected
    entity_back = from_file.select(columns).to_pandas()
    for column in columns:
        back, given = entity_back[column], case.entity[column]
        if isinstance(given.dtype, pd.DatetimeTZDtype):
            # Spark writes instants as UTC microseconds.
            back, given = back.dt.tz_convert("UTC"), given.dt.tz_convert("UTC")
        pd.testing.assert_series_equal(back, given, check_dtype=False, check_names=False)
