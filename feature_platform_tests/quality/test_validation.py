"""The generated GX suite on good and bad rows of a real feature view spec."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from feature_platform.quality import build_expectations, validate_feature_rows
from feature_platform.specs import Entity, Feature, FeatureView, TableSource, ValueType

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)

user = Entity("user", {"user_id": ValueType.INT64})
view = FeatureView(
    name="orders",
    entity=user,
    features=[
        Feature("purchases_7d", ValueType.INT64, min_value=0, max_value=1000),
        Feature("spend_7d", ValueType.FLOAT64, min_value=0),
        Feature("plan", ValueType.STRING, allowed_values=("free", "pro")),
        Feature("is_paying", ValueType.BOOL),
    ],
    source=TableSource("fv_orders"),
)


def good_rows(n: int = 20) -> pd.DataFrame:
    event = pd.Series(
        [NOW - timedelta(hours=1) - timedelta(minutes=i) for i in range(n)]
    ).astype("datetime64[us, UTC]")
    return pd.DataFrame(
        {
            "user_id": np.arange(n, dtype="int64"),
            "event_timestamp": event,
            "created_timestamp": event + pd.Timedelta(seconds=5),
            "purchases_7d": np.arange(n, dtype="int64") % 1000,
            "spend_7d": np.linspace(0.0, 99.5, n),
            "plan": ["free", "pro"] * (n // 2),
            "is_paying": [False, True] * (n // 2),
        }
    )


def failures(report: object) -> dict[str, object]:
    return {f.label: f for f in report.failures}  # type: ignore[attr-defined]


def test_good_rows_pass_with_every_generated_expectation() -> None:
    report = validate_feature_rows(view, good_rows(), now=NOW)
    assert report.success, report.summary()
    names = {r.label for r in report.results}
    assert {
        "expect_column_values_to_not_be_null(user_id)",
        "expect_column_values_to_not_be_null(event_timestamp)",
        "expect_column_values_to_not_be_null(created_timestamp)",
        "expect_column_values_to_be_between(event_timestamp)",
        "expect_compound_columns_to_be_unique(user_id, event_timestamp, created_timestamp)",
        "expect_column_values_to_be_between(purchases_7d)",
        "expect_column_values_to_be_between(spend_7d)",
        "expect_column_values_to_be_in_set(plan)",
        "expect_column_values_to_be_in_type_list(user_id)",
        "expect_column_values_to_be_in_type_list(is_paying)",
        "expect_column_values_to_be_utc_timestamps(event_timestamp)",
    } <= names
    assert report.row_count == 20
    assert report.to_metadata()["failed_count"] == 0


def test_arrow_table_with_null_features_passes() -> None:
    table = pa.Table.from_pandas(good_rows(), schema=view.arrow_schema, preserve_index=False)
    columns = {n: table.column(n).to_pylist() for n in table.column_names}
    columns["purchases_7d"][3] = None  # a null feature value is valid
    columns["is_paying"][4] = None
    table = pa.table(columns, schema=view.arrow_schema)
    report = validate_feature_rows(view, table, now=NOW)
    assert report.success, report.summary()


def test_each_kind_of_bad_row_fails_its_expectation_with_samples() -> None:
    rows = good_rows()
    rows["user_id"] = rows["user_id"].astype("Int64")
    rows.loc[2, "user_id"] = pd.NA
    rows.loc[5, "purchases_7d"] = 5000
    rows.loc[6, "spend_7d"] = -1.0
    rows.loc[7, "plan"] = "platinum"
    rows.loc[9, "event_timestamp"] = NOW + timedelta(minutes=1)
    rows.loc[11, ["event_timestamp", "created_timestamp"]] = rows.loc[
        10, ["event_timestamp", "created_timestamp"]
    ].to_numpy()
    rows.loc[11, "user_id"] = 10

    report = validate_feature_rows(view, rows, now=NOW)

    assert not report.success
    failed = failures(report)
    assert set(failed) == {
        "expect_column_values_to_not_be_null(user_id)",
        "expect_column_values_to_be_between(purchases_7d)",
        "expect_column_values_to_be_between(spend_7d)",
        "expect_column_values_to_be_in_set(plan)",
        "expect_column_values_to_be_between(event_timestamp)",
        "expect_compound_columns_to_be_unique(user_id, event_timestamp, created_timestamp)",
    }
    null_key = failed["expect_column_values_to_not_be_null(user_id)"]
    assert null_key.unexpected_count == 1
    assert [r["row"] for r in null_key.sample_rows] == [2]
    assert null_key.sample_rows[0]["user_id"] is None

    out_of_range = failed["expect_column_values_to_be_between(purchases_7d)"]
    assert out_of_range.unexpected_values == (5000,)
    assert out_of_range.sample_rows[0]["row"] == 5
    assert out_of_range.sample_rows[0]["purchases_7d"] == 5000
    assert out_of_range.sample_rows[0]["user_id"] == 5

    assert failed["expect_column_values_to_be_in_set(plan)"].unexpected_values == ("platinum",)

    future = failed["expect_column_values_to_be_between(event_timestamp)"]
    assert future.unexpected_count == 1
    assert future.sample_rows[0]["event_timestamp"] == (NOW + timedelta(minutes=1)).isoformat()

    duplicate = failed[
        "expect_compound_columns_to_be_unique(user_id, event_timestamp, created_timestamp)"
    ]
    assert duplicate.unexpected_count == 2
    assert sorted(r["row"] for r in duplicate.sample_rows) == [10, 11]

    summary = report.summary()
    assert "FAILED" in summary and "expect_column_values_to_be_in_set(plan)" in summary
    metadata = report.to_metadata()
    assert metadata["failed_count"] == 6
    assert "expect_column_values_to_not_be_null(user_id)" in metadata["failed_expectations"]  # type: ignore[operator]
    import json

    json.dumps(metadata)  # JSON-friendly throughout


def test_samples_are_capped_at_five() -> None:
    rows = good_rows(40)
    rows.loc[:, "spend_7d"] = -1.0
    report = validate_feature_rows(view, rows, now=NOW)
    (bad,) = report.failures
    assert bad.unexpected_count == 40
    assert len(bad.unexpected_values) == 5 and len(bad.sample_rows) == 5


def test_boundary_event_timestamp_equal_to_now_passes() -> None:
    rows = good_rows()
    rows.loc[0, "event_timestamp"] = NOW
    assert validate_feature_rows(view, rows, now=NOW).success


def test_wrong_types_and_missing_columns_are_reported_not_raised() -> None:
    rows = good_rows().drop(columns=["is_paying"])
    rows["plan"] = rows["plan"].astype(object)
    rows.loc[0, "plan"] = 3
    rows["created_timestamp"] = rows["created_timestamp"].astype(str)
    report = validate_feature_rows(view, rows, now=NOW)
    failed = failures(report)
    assert "expect_column_to_exist(is_paying)" in failed
    assert failed["expect_column_values_to_be_in_type_list(is_paying)"].error
    assert failed["expect_column_values_to_be_utc_timestamps(created_timestamp)"].observed == "object"
    plan_type = failed["expect_column_values_to_be_in_type_list(plan)"]
    assert plan_type.unexpected_values == (3,)


def test_timestamps_finer_than_a_microsecond_fail_the_check_like_every_writer_refuses_them() -> None:
    rows = good_rows()
    rows["created_timestamp"] = rows["created_timestamp"].astype("datetime64[ns, UTC]")
    rows.loc[2, "created_timestamp"] += pd.Timedelta(nanoseconds=7)
    report = validate_feature_rows(view, rows, now=NOW)
    failed = failures(report)["expect_column_values_to_be_utc_timestamps(created_timestamp)"]
    assert not report.success
    assert failed.observed.startswith("1 value(s) finer than a microsecond")
    assert failed.unexpected_values == (rows.loc[2, "created_timestamp"].isoformat(),)


def test_naive_timestamps_are_read_as_utc_and_input_is_not_modified() -> None:
    rows = good_rows()
    rows["event_timestamp"] = rows["event_timestamp"].dt.tz_localize(None)
    before = rows.copy()
    report = validate_feature_rows(view, rows, now=NOW)
    assert report.success, report.summary()
    pd.testing.assert_frame_equal(rows, before)


def test_extra_expectations_are_appended_and_reusable() -> None:
    import great_expectations.expectations as gxe

    extra = [gxe.ExpectTableRowCountToBeBetween(min_value=30)]
    assert build_expectations(view, extra, now=NOW)[-1] is extra[0]
    for _ in range(2):
        report = validate_feature_rows(view, good_rows(), now=NOW, extra_expectations=extra)
        assert not report.success
        assert [f.name for f in report.failures] == ["expect_table_row_count_to_be_between"]
        assert report.failures[0].observed == 20


def test_empty_partition_passes() -> None:
    assert validate_feature_rows(view, good_rows().iloc[0:0], now=NOW).success


def test_ten_thousand_rows_validate_well_under_a_second() -> None:
    rows = good_rows(10_000)
    validate_feature_rows(view, rows.head(10), now=NOW)  # GX import and first-call warm-up
    # CPU time of this process: what validation costs, not what other processes take.
    started = time.process_time()
    report = validate_feature_rows(view, rows, now=NOW)
    elapsed = time.process_time() - started
    assert report.success
    assert elapsed < 1.0, f"validation of 10k rows took {elapsed:.2f}s of CPU"


@pytest.mark.parametrize("rows", ["not a frame", [1, 2]])
def test_rows_of_the_wrong_kind_raise_a_schema_error(rows: object) -> None:
    from feature_platform.errors import SchemaError

    with pytest.raises(SchemaError, match="pandas.DataFrame or a pyarrow.Table"):
        validate_feature_rows(view, rows, now=NOW)  # type: ignore[arg-type]


def test_non_finite_floats_fail_unless_the_feature_allows_them() -> None:
    rows = good_rows()
    rows.loc[3, "spend_7d"] = np.inf  # passes min_value=0: only the finite check catches it
    report = validate_feature_rows(view, rows, now=NOW)
    finite = failures(report)["expect_column_values_to_be_finite(spend_7d)"]
    assert not report.success and finite.unexpected_count == 1 and finite.unexpected_values == ("inf",)
    assert list(failures(report)) == ["expect_column_values_to_be_finite(spend_7d)"]
    arrow = pa.Table.from_pandas(good_rows(), schema=view.arrow_schema, preserve_index=False)
    with_nan = arrow.set_column(arrow.schema.get_field_index("spend_7d"), "spend_7d",
                                pa.array([float("nan")] + [1.0] * (arrow.num_rows - 1)))
    assert not validate_feature_rows(view, with_nan, now=NOW).success  # NaN is not null in Arrow
    lenient = FeatureView(
        name="orders", entity=user, source=TableSource("fv_orders"),
        features=[*view.features[:1], Feature("spend_7d", ValueType.FLOAT64, min_value=0, allow_non_finite=True),
                  *view.features[2:]],
    )
    assert validate_feature_rows(lenient, rows, now=NOW).success
