"""One row contract: the offline store and the online write accept and refuse the same rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from feature_platform.errors import NullValueError, SchemaError, TimestampError
from feature_platform.offline import OfflineStore, point_in_time_join
from feature_platform.online import RedisOnlineStore
from feature_platform.rows import view_table
from feature_platform.specs import ViewRequest
from feature_platform_tests.online.conftest import SCORES, now_utc


def score_rows(event: pd.Series, **overrides: object) -> pd.DataFrame:
    n = len(event)
    columns: dict[str, object] = {
        "user_id": list(range(1, n + 1)), "event_timestamp": event, "created_timestamp": event,
        "score": [0.5] * n, "count": [3] * n, "label": ["x"] * n, "flag": [True] * n, "seen_at": event,
    }
    return pd.DataFrame({**columns, **overrides})


def day_of(now: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = now.floor("D")
    return start, start + timedelta(days=1)


def test_sub_microsecond_rows_are_refused_offline_and_online_alike(redis_url: str, tmp_path: Path) -> None:
    now = pd.Timestamp(now_utc()).floor("s") + pd.Timedelta(milliseconds=250)
    start, end = day_of(now)
    online = RedisOnlineStore(redis_url, "contract")
    offline = OfflineStore(tmp_path)
    fine = score_rows(pd.Series([now, now + pd.Timedelta(nanoseconds=1)]))
    with pytest.raises(TimestampError, match="finer than a microsecond"):
        offline.write_partitions(SCORES, start.to_pydatetime(), end.to_pydatetime(), fine)
    with pytest.raises(TimestampError, match="finer than a microsecond"):
        online.write(SCORES, fine)
    request = [ViewRequest(SCORES, ("score",))]
    assert online.read(request, [{"user_id": 1}]).to_dict()["score__status"] == ["NOT_FOUND"]  # nothing partial
    whole = score_rows(pd.Series([now, now + pd.Timedelta(microseconds=1)]))  # nanosecond dtype, whole µs
    assert offline.write_partitions(SCORES, start.to_pydatetime(), end.to_pydatetime(), whole)[0].row_count == 2
    assert online.write(SCORES, whole).written == 2
    stamp = online.read(request, [{"user_id": 2}]).to_dict()["score__event_timestamp"][0]
    assert stamp == (now + pd.Timedelta(microseconds=1)).to_pydatetime()


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"count": [True]}, SchemaError, "'count'"),  # a bool is not an int64 feature
        ({"flag": [1]}, SchemaError, "'flag'"),  # nor an int a bool feature
        ({"count": ["3"]}, SchemaError, "'count'"),
        ({"user_id": [None]}, NullValueError, "'user_id'"),
    ],
)
def test_the_online_write_converts_like_the_offline_store(
    redis_url: str, overrides: dict[str, object], error: type[Exception], match: str
) -> None:
    rows = score_rows(pd.Series([pd.Timestamp(now_utc())]), **overrides)
    with pytest.raises(error, match=match):
        view_table(rows, SCORES, "the rows")
    with pytest.raises(error, match=match):
        RedisOnlineStore(redis_url, "contract").write(SCORES, rows)


def test_view_table_reads_naive_as_utc_and_casts_only_without_loss() -> None:
    naive = pd.Timestamp("2026-01-15 12:00:00")
    rows = score_rows(pd.Series([naive]), score=[2], extra=["dropped"])
    table = view_table(rows, SCORES, "the rows")
    assert table.schema == SCORES.arrow_schema
    assert table.column("event_timestamp")[0].as_py() == naive.tz_localize("UTC").to_pydatetime()
    assert table.column("score").to_pylist() == [2.0]
    with pytest.raises(SchemaError, match="'count'.*without loss"):
        view_table(score_rows(pd.Series([naive]), count=[2.5]), SCORES, "the rows")
    assert view_table(pa.Table.from_pandas(rows), SCORES, "the rows").equals(table)


def test_training_and_serving_frames_have_the_same_dtypes_and_values(redis_url: str, tmp_path: Path) -> None:
    now = pd.Timestamp(now_utc()).floor("us")
    event = now - pd.Timedelta(minutes=5)
    start, end = day_of(event)
    rows = score_rows(pd.Series([event, event]), count=[9, 4], flag=[True, False])
    offline = OfflineStore(tmp_path)
    offline.write_partitions(SCORES, start.to_pydatetime(), end.to_pydatetime(), rows)
    online = RedisOnlineStore(redis_url, "dtypes")
    online.write(SCORES, rows)
    features = SCORES.feature_names
    entity = pd.DataFrame({"user_id": [1, 2, 99], "event_timestamp": [now] * 3})  # 99: no value anywhere
    training = point_in_time_join(entity, [offline.feature_table(SCORES, features)])
    serving = online.read([ViewRequest(SCORES, tuple(features))], entity[["user_id"]].to_dict("records")).to_df()
    assert training[features].dtypes.to_dict() == serving[features].dtypes.to_dict()
    assert str(serving["count"].dtype) == "Int64" and str(serving["flag"].dtype) == "boolean"
    assert serving["count"].tolist()[:2] == [9, 4] and serving["count"].isna().tolist() == [False, False, True]
    pd.testing.assert_frame_equal(training[features], serving[features])
    assert str(serving["user_id"].dtype) == "Int64"
    assert str(serving["score__event_timestamp"].dtype) == "datetime64[us, UTC]"
