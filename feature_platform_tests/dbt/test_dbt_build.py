"""The dbt project builds, its data tests pass, and the feature tables hold the right values.

The expected values are computed here independently, in pandas/numpy from the raw landed
files, and for one hand-made user by hand.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_platform.feature_repo.views import ALL_VIEWS
from feature_platform_tests.dbt.conftest import HAND_USER, MINUTE, P0, T0, US, DbtRun

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000


def raw(run: DbtRun, table: str, keys: list[str]) -> pd.DataFrame:
    """A raw table as landed, deduplicated by its keys keeping the latest delivery."""
    files = sorted((run.settings.landing_dir / table).glob("ingest_date=*/*.parquet"))
    frame = pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()
    frame = frame.sort_values("ingested_at").drop_duplicates(keys, keep="last")
    return frame.sort_values(["user_id", *keys]).reset_index(drop=True)


def feature_table(run: DbtRun, name: str) -> pd.DataFrame:
    with run.connect() as connection:
        return connection.sql(f"select * from {name} order by user_id, event_timestamp").df()


def micros(series: pd.Series) -> np.ndarray:
    return series.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64").to_numpy()


def test_build_succeeds_and_every_data_test_passes(dbt_run: DbtRun) -> None:
    assert dbt_run.result.returncode == 0, dbt_run.result.stdout + dbt_run.result.stderr
    results = json.loads((dbt_run.target_dir / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"]: r["status"] for r in results}
    assert set(statuses.values()) <= {"success", "pass"}, statuses
    models = {uid.split(".")[-1] for uid in statuses if uid.startswith("model.")}
    assert models == {
        "stg_users",
        "stg_orders",
        "stg_page_views",
        "fv_user_profile",
        "fv_user_purchase_activity",
        "fv_user_session_activity",
    }
    tests = [uid for uid in statuses if uid.startswith("test.")]
    for view in (v for v in ALL_VIEWS if not v.is_stream):
        assert any(f"unique_combination_{view.table_source.table}_user_id" in t for t in tests), view.name
    assert sum("accepted_values" in t for t in tests) == 4
    assert sorted(t.split(".")[2] for t in tests if ".unique_stg_" in t) == [
        "unique_stg_orders_order_id",
        "unique_stg_page_views_view_id",
    ]


def test_feature_tables_have_exactly_the_view_schema(dbt_run: DbtRun) -> None:
    with dbt_run.connect() as connection:
        for view in (v for v in ALL_VIEWS if not v.is_stream):
            schema = (
                connection.sql(f"select * from {view.table_source.table} limit 0").to_arrow_table().schema
            )
            assert schema.names == [
                "user_id",
                "event_timestamp",
                "created_timestamp",
                *view.feature_names,
            ]
            assert schema.equals(view.arrow_schema), (view.name, schema)


def test_staging_keeps_one_row_per_id_with_the_latest_delivery(dbt_run: DbtRun) -> None:
    with dbt_run.connect() as connection:
        for table, keys, model in (
            ("orders", ["order_id"], "stg_orders"),
            ("page_views", ["view_id"], "stg_page_views"),
            ("users", ["user_id", "updated_at"], "stg_users"),
        ):
            expected = raw(dbt_run, table, keys)
            got = connection.sql(f"select * from {model} order by user_id, {', '.join(keys)}").df()
            assert list(got.columns) == list(expected.columns)
            pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert sum(dbt_run.summary.duplicate_rows.values()) > 0


def test_hand_user_purchase_windows_respect_the_half_open_bounds(dbt_run: DbtRun) -> None:
    got = feature_table(dbt_run, "fv_user_purchase_activity")
    got = got[got["user_id"] == HAND_USER].reset_index(drop=True)
    late = T0 + timedelta(hours=1)
    # (event, created, purchases_7d, spend_7d, purchases_30d, spend_30d); amounts are powers
    # of two, so each spend names exactly which orders a window holds.
    expected = [
        (T0 - timedelta(days=30), T0 - timedelta(days=30) + MINUTE, 1, 1.0, 1, 1.0),
        (T0 - timedelta(days=30) + US, T0 - timedelta(days=30) + MINUTE, 2, 3.0, 2, 3.0),
        # The orders exactly 7 and 30 days before are outside (t - 7d, t] / (t - 30d, t].
        (T0 - timedelta(days=7), T0 - timedelta(days=7) + MINUTE, 1, 4.0, 3, 7.0),
        (T0 - timedelta(days=7) + US, late, 2, 12.0, 4, 15.0),
        (T0 - timedelta(hours=1), late, 3, 28.0, 5, 31.0),
        (T0, late, 3, 56.0, 5, 62.0),
    ]
    assert len(got) == len(expected)
    for row, (event, created, p7, s7, p30, s30) in zip(got.itertuples(), expected, strict=True):
        assert (row.event_timestamp, row.created_timestamp) == (
            pd.Timestamp(event),
            pd.Timestamp(created),
        )
        assert (row.purchases_7d, row.spend_7d, row.purchases_30d, row.spend_30d) == (
            p7,
            s7,
            p30,
            s30,
        )
        assert row.avg_order_value_30d == pytest.approx(s30 / p30)


def test_hand_user_sessions(dbt_run: DbtRun) -> None:
    got = feature_table(dbt_run, "fv_user_session_activity")
    got = got[got["user_id"] == HAND_USER].reset_index(drop=True)
    s = timedelta(seconds=1)
    expected = [
        (P0, P0 + MINUTE, 1, 0.0, 1),
        (P0 + 10 * s, P0 + timedelta(hours=5), 2, 10.0, 2),
        (P0 + 70 * s, P0 + timedelta(hours=5), 3, 70.0, 3),
        (P0 + timedelta(minutes=30), P0 + timedelta(minutes=31), 1, 0.0, 4),
        # The view exactly an hour earlier (P0) is outside (t - 1h, t].
        (P0 + timedelta(hours=1), P0 + timedelta(hours=1) + MINUTE, 2, 1800.0, 4),
    ]
    actual = [
        (
            r.event_timestamp,
            r.created_timestamp,
            r.session_page_views,
            r.session_duration_s,
            r.page_views_1h,
        )
        for r in got.itertuples()
    ]
    assert actual == [(pd.Timestamp(e), pd.Timestamp(c), n, d, h) for e, c, n, d, h in expected]


def test_hand_user_profile_versions(dbt_run: DbtRun) -> None:
    got = feature_table(dbt_run, "fv_user_profile")
    got = got[got["user_id"] == HAND_USER]
    change = T0 - timedelta(days=2)
    assert list(got.itertuples(index=False, name=None)) == [
        (
            HAND_USER,
            pd.Timestamp(T0 - timedelta(days=40)),
            pd.Timestamp(T0 - timedelta(days=40) + MINUTE),
            "JP",
            "free",
            False,
        ),
        (HAND_USER, pd.Timestamp(change), pd.Timestamp(change + 5 * MINUTE), "JP", "pro", True),
    ]


def test_purchase_activity_matches_an_independent_computation(dbt_run: DbtRun) -> None:
    orders = raw(dbt_run, "orders", ["order_id"]).sort_values(["user_id", "ordered_at"])
    expected = []
    for user_id, group in orders.groupby("user_id", sort=True):
        t, amount, ingested = (
            micros(group["ordered_at"]),
            group["amount"].to_numpy(),
            micros(group["ingested_at"]),
        )
        for i in range(len(t)):
            in_7d = (t > t[i] - 7 * DAY_US) & (t <= t[i])
            in_30d = (t > t[i] - 30 * DAY_US) & (t <= t[i])
            expected.append(
                (
                    user_id,
                    t[i],
                    ingested[in_30d].max(),
                    in_7d.sum(),
                    amount[in_7d].sum(),
                    in_30d.sum(),
                    amount[in_30d].sum(),
                    amount[in_30d].mean(),
                )
            )
    got = feature_table(dbt_run, "fv_user_purchase_activity")
    assert len(got) == len(expected) > 300
    want = np.array(expected, dtype=float)
    np.testing.assert_array_equal(got["user_id"], want[:, 0])
    np.testing.assert_array_equal(
        micros(got["event_timestamp"]), np.array([e[1] for e in expected])
    )
    np.testing.assert_array_equal(
        micros(got["created_timestamp"]), np.array([e[2] for e in expected])
    )
    np.testing.assert_array_equal(got["purchases_7d"], want[:, 3])
    np.testing.assert_array_equal(got["purchases_30d"], want[:, 5])
    for column, index in (("spend_7d", 4), ("spend_30d", 6), ("avg_order_value_30d", 7)):
        np.testing.assert_allclose(got[column], want[:, index], rtol=1e-12, err_msg=column)
    # The generated sample has late orders, and they raise created_timestamp past ingestion.
    assert (got["created_timestamp"] > got["event_timestamp"] + pd.Timedelta(hours=2)).any()


def test_session_activity_matches_an_independent_computation(dbt_run: DbtRun) -> None:
    views = raw(dbt_run, "page_views", ["view_id"]).sort_values(["user_id", "viewed_at"])
    expected = []
    for user_id, group in views.groupby("user_id", sort=True):
        t, ingested = micros(group["viewed_at"]), micros(group["ingested_at"])
        session = group["session_id"].to_numpy()
        for i in range(len(t)):
            so_far = (session == session[i]) & (t <= t[i])
            last_hour = (t > t[i] - HOUR_US) & (t <= t[i])
            expected.append(
                (
                    user_id,
                    t[i],
                    ingested[so_far].max(),
                    so_far.sum(),
                    (t[i] - t[so_far].min()) / 1e6,
                    last_hour.sum(),
                )
            )
    got = feature_table(dbt_run, "fv_user_session_activity")
    assert len(got) == len(expected) > 3000
    assert list(
        zip(
            got["user_id"],
            micros(got["event_timestamp"]),
            micros(got["created_timestamp"]),
            got["session_page_views"],
            got["page_views_1h"],
            strict=True,
        )
    ) == [(e[0], e[1], e[2], e[3], e[5]) for e in expected]
    np.testing.assert_allclose(
        got["session_duration_s"], [e[4] for e in expected], rtol=0, atol=1e-9
    )


def test_profile_matches_the_deduplicated_versions(dbt_run: DbtRun) -> None:
    users = raw(dbt_run, "users", ["user_id", "updated_at"])
    got = feature_table(dbt_run, "fv_user_profile").sort_values(["user_id", "event_timestamp"])
    assert list(got["user_id"]) == list(users["user_id"])
    assert list(got["event_timestamp"]) == list(users["updated_at"])
    assert list(got["created_timestamp"]) == list(users["ingested_at"])
    assert list(got["plan"]) == list(users["plan"])
    assert list(got["country"]) == list(users["country"])
    assert list(got["is_paying"]) == list(users["plan"] != "free")
    assert set(got["user_id"]) == set(dbt_run.summary.user_ids) | {HAND_USER}
