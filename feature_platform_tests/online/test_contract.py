"""The OnlineStore contract (SEMANTICS.md, "Online store"), for every store implementation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from feature_platform.errors import (
    FeatureNameCollisionError,
    MissingColumnError,
    SchemaError,
    TimestampError,
)
from feature_platform.online import FeatureStatus, OnlineStore, WriteResult
from feature_platform.specs import ViewRequest
from feature_platform_tests.online.conftest import PAIRS, PROFILE, SCORES, now_utc


def score_rows(now: datetime, **overrides: list[object]) -> pd.DataFrame:
    rows: dict[str, list[object]] = {
        "user_id": [1],
        "event_timestamp": [now - timedelta(hours=1)],
        "created_timestamp": [now],
        "score": [0.5],
        "count": [3],
        "label": ["a"],
        "flag": [True],
        "seen_at": [now - timedelta(minutes=5)],
    }
    rows.update(overrides)
    return pd.DataFrame(rows)


def read_one(store: OnlineStore, view: object, user_id: object, now: datetime) -> dict:
    request = ViewRequest(view, tuple(view.feature_names))  # type: ignore[attr-defined]
    return store.read([request], [{"user_id": user_id}], now=now).to_dict()


def test_round_trip_keeps_every_type_and_null(store: OnlineStore) -> None:
    now = now_utc()
    frame = score_rows(
        now,
        user_id=[1, 2],
        event_timestamp=[now - timedelta(hours=1)] * 2,
        created_timestamp=[now] * 2,
        score=[0.25, None],
        count=[7, None],
        label=["ünï:*\n", None],
        flag=[False, None],
        seen_at=[now - timedelta(minutes=5), None],
    )
    result = store.write(SCORES, frame, now=now)
    assert result == WriteResult(rows_in=2, entities=2, written=2, skipped_not_newer=0, skipped_expired=0)
    request = ViewRequest(SCORES, ("score", "count", "label", "flag", "seen_at"))
    out = store.read([request], [{"user_id": 1}, {"user_id": 2}, {"user_id": 3}], now=now).to_dict()
    assert out["user_id"] == [1, 2, 3]
    assert out["score"] == [0.25, None, None]
    assert out["count"] == [7, None, None]
    assert out["label"] == ["ünï:*\n", None, None]
    assert out["flag"] == [False, None, None]
    assert out["seen_at"] == [now - timedelta(minutes=5), None, None]
    assert out["score__status"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert out["count__event_timestamp"] == [now - timedelta(hours=1)] * 2 + [None]


def test_several_rows_per_entity_keep_the_largest_pair(store: OnlineStore) -> None:
    now = now_utc()
    t = now - timedelta(hours=3)
    frame = score_rows(
        now,
        user_id=[5, 5, 5, 5],
        event_timestamp=[t, t + timedelta(hours=1), t + timedelta(hours=1), t],
        created_timestamp=[now, now - timedelta(minutes=2), now - timedelta(minutes=1), now],
        score=[1.0, 2.0, 3.0, 4.0],
        count=[1, 2, 3, 4],
        label=list("abcd"),
        flag=[True] * 4,
        seen_at=[now] * 4,
    )
    result = store.write(SCORES, frame, now=now)
    assert (result.rows_in, result.entities, result.written) == (4, 1, 1)
    assert read_one(store, SCORES, 5, now)["score"] == [3.0]


def test_compare_and_set_never_regresses(store: OnlineStore) -> None:
    now = now_utc()
    newer = now - timedelta(hours=1)
    store.write(SCORES, score_rows(now, event_timestamp=[newer], score=[2.0]), now=now)
    late_older = store.write(
        SCORES,
        score_rows(now, event_timestamp=[newer - timedelta(seconds=1)], created_timestamp=[now + timedelta(hours=1)], score=[1.0]),
        now=now,
    )
    assert (late_older.written, late_older.skipped_not_newer) == (0, 1)
    assert read_one(store, SCORES, 1, now)["score"] == [2.0]
    same_event_later_created = store.write(
        SCORES,
        score_rows(now, event_timestamp=[newer], created_timestamp=[now + timedelta(seconds=1)], score=[3.0]),
        now=now,
    )
    assert same_event_later_created.written == 1
    assert read_one(store, SCORES, 1, now)["score"] == [3.0]
    same_event_earlier_created = store.write(
        SCORES, score_rows(now, event_timestamp=[newer], created_timestamp=[now], score=[9.0]), now=now
    )
    assert same_event_earlier_created.skipped_not_newer == 1
    assert read_one(store, SCORES, 1, now)["score"] == [3.0]
    # The row Redis already holds, written again: counted as unchanged, not as written.
    same_row = score_rows(now, event_timestamp=[newer], created_timestamp=[now + timedelta(seconds=1)], score=[3.0])
    again = store.write(SCORES, same_row, now=now)
    assert (again.written, again.unchanged, again.skipped_not_newer) == (0, 1, 0)
    corrected = store.write(SCORES, same_row.assign(score=[3.5]), now=now)  # same pair, new value
    assert (corrected.written, corrected.unchanged) == (1, 0)
    assert read_one(store, SCORES, 1, now)["score"] == [3.5]


def test_concurrent_writers_end_with_the_largest_pair(store: OnlineStore) -> None:
    now = now_utc()
    base = now - timedelta(hours=1)
    frames = [
        score_rows(
            now,
            user_id=list(range(50)),
            event_timestamp=[base + timedelta(seconds=w)] * 50,
            created_timestamp=[now] * 50,
            score=[float(w)] * 50,
            count=[w] * 50,
            label=["x"] * 50,
            flag=[True] * 50,
            seen_at=[now] * 50,
        )
        for w in range(6)
    ]
    threads = [threading.Thread(target=store.write, args=(SCORES, f), kwargs={"now": now}) for f in reversed(frames)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    request = ViewRequest(SCORES, ("score",))
    out = store.read([request], [{"user_id": i} for i in range(50)], now=now).to_dict()
    assert out["score"] == [5.0] * 50


def test_ttl_boundary_is_exact_and_inclusive(store: OnlineStore) -> None:
    now = now_utc()
    event = now - timedelta(hours=1)
    store.write(SCORES, score_rows(now, event_timestamp=[event]), now=now)
    at_bound = read_one(store, SCORES, 1, event + SCORES.ttl)  # type: ignore[operator]
    past_bound = read_one(store, SCORES, 1, event + SCORES.ttl + timedelta(microseconds=1))  # type: ignore[operator]
    assert at_bound["score__status"] == ["PRESENT"] and at_bound["score"] == [0.5]
    assert past_bound["score__status"] == ["EXPIRED"] and past_bound["score"] == [None]
    assert past_bound["score__event_timestamp"] == [event]


def test_rows_expired_at_write_time_are_not_written(store: OnlineStore) -> None:
    now = now_utc()
    old = now - SCORES.ttl - timedelta(microseconds=1)  # type: ignore[operator]
    edge = now - SCORES.ttl  # type: ignore[operator]
    result = store.write(
        SCORES, score_rows(now, user_id=[1, 2], event_timestamp=[old, edge], created_timestamp=[now] * 2,
                           score=[1.0, 2.0], count=[1, 2], label=["a", "b"], flag=[True, True], seen_at=[now] * 2),
        now=now,
    )
    assert (result.written, result.skipped_expired) == (1, 1)
    out = store.read([ViewRequest(SCORES, ("score",))], [{"user_id": 1}, {"user_id": 2}], now=now).to_dict()
    assert out["score__status"] == ["NOT_FOUND", "PRESENT"]


def test_no_ttl_never_expires(store: OnlineStore) -> None:
    now = now_utc()
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    frame = pd.DataFrame({"user_id": [1], "event_timestamp": [long_ago], "created_timestamp": [long_ago],
                          "country": ["FR"], "score": [1.5]})
    assert store.write(PROFILE, frame, now=now).written == 1
    out = read_one(store, PROFILE, 1, now + timedelta(days=10_000))
    assert out["country"] == ["FR"] and out["country__status"] == ["PRESENT"]


def test_naive_timestamps_are_utc_and_arrow_tables_are_accepted(store: OnlineStore) -> None:
    now = now_utc()
    event = (now - timedelta(hours=1)).replace(tzinfo=None)
    table = pa.table({
        "created_timestamp": pa.array([now.replace(tzinfo=None)], pa.timestamp("ns")),
        "event_timestamp": pa.array([event], pa.timestamp("ns")),
        "user_id": pa.array([9], pa.int32()),
        "extra_column": ["ignored"],
        "country": ["DE"],
        "score": [1.0],
    })
    store.write(PROFILE, table, now=now)
    out = read_one(store, PROFILE, 9, now)
    assert out["country__event_timestamp"] == [event.replace(tzinfo=UTC)]


def test_multi_view_multi_key_read_and_feature_names(store: OnlineStore) -> None:
    now = now_utc()
    store.write(SCORES, score_rows(now, user_id=[1], score=[0.5]), now=now)
    store.write(PROFILE, pd.DataFrame({"user_id": [1], "event_timestamp": [now], "created_timestamp": [now],
                                       "country": ["US"], "score": [9.0]}), now=now)
    store.write(PAIRS, pd.DataFrame({"shop": ["a:b", "a"], "item_id": [1, 1], "event_timestamp": [now] * 2,
                                     "created_timestamp": [now] * 2, "stock": [10, 20]}), now=now)
    requests = [ViewRequest(SCORES, ("score",)), ViewRequest(PROFILE, ("score", "country"))]
    with pytest.raises(FeatureNameCollisionError, match="full_feature_names"):
        store.read(requests, [{"user_id": 1}], now=now)
    out = store.read(requests, [{"user_id": 1}], now=now, full_feature_names=True).to_dict(include_metadata=False)
    assert out == {"user_id": [1], "scores__score": [0.5], "profile__score": [9.0], "profile__country": ["US"]}
    pairs = store.read([ViewRequest(PAIRS, ("stock",))],
                       [{"shop": "a", "item_id": 1}, {"shop": "a:b", "item_id": 1}, {"shop": "a", "item_id": 2}],
                       now=now)
    assert pairs.to_dict()["stock"] == [20, 10, None]
    frame = pairs.to_df()
    assert list(frame.columns) == ["shop", "item_id", "stock", "stock__status", "stock__event_timestamp"]
    assert pairs[1]["stock"].value == 10 and pairs[1]["stock"].status is FeatureStatus.PRESENT
    assert pairs[1].join_keys == {"shop": "a:b", "item_id": 1}


def test_write_validates_columns_and_types(store: OnlineStore) -> None:
    now = now_utc()
    with pytest.raises(MissingColumnError, match="'label'"):
        store.write(SCORES, score_rows(now).drop(columns=["label"]), now=now)
    with pytest.raises(MissingColumnError, match="'created_timestamp'"):
        store.write(SCORES, score_rows(now).drop(columns=["created_timestamp"]), now=now)
    with pytest.raises(TimestampError, match="'event_timestamp'"):
        store.write(SCORES, score_rows(now, event_timestamp=["yesterday"]), now=now)
    with pytest.raises(SchemaError, match="'count'"):
        store.write(SCORES, score_rows(now, count=["many"]), now=now)
    with pytest.raises(SchemaError, match="'user_id'"):
        store.write(SCORES, score_rows(now, user_id=["abc"]), now=now)
    with pytest.raises(SchemaError, match="'user_id'"):
        store.write(SCORES, score_rows(now, user_id=[None]), now=now)
    assert read_one(store, SCORES, 1, now)["score__status"] == ["NOT_FOUND"]


def test_read_validates_join_keys(store: OnlineStore) -> None:
    now = now_utc()
    request = [ViewRequest(PAIRS, ("stock",))]
    with pytest.raises(MissingColumnError, match="'item_id'"):
        store.read(request, [{"shop": "a", "item_id": 1}, {"shop": "a"}], now=now)
    with pytest.raises(SchemaError, match="'item_id'"):
        store.read(request, [{"shop": "a", "item_id": "abc"}], now=now)
    with pytest.raises(SchemaError, match="'shop'"):
        store.read(request, [{"shop": 1, "item_id": 1}], now=now)
    with pytest.raises(SchemaError, match="'item_id'"):
        store.read(request, [{"shop": "a", "item_id": True}], now=now)


def test_iter_delete_and_cleanup(store: OnlineStore) -> None:
    now = now_utc()
    ids = list(range(10))
    frame = score_rows(
        now, user_id=ids, event_timestamp=[now - timedelta(hours=1)] * 10, created_timestamp=[now] * 10,
        score=[float(i) for i in ids], count=ids, label=["x"] * 10, flag=[True] * 10, seen_at=[now] * 10,
    )
    store.write(SCORES, frame, now=now)
    entities = sorted(store.iter_entities(SCORES, now=now), key=lambda r: r[0]["user_id"])  # type: ignore[arg-type,return-value]
    assert [e[0] for e in entities] == [{"user_id": i} for i in ids]
    assert entities[3][1] == now - timedelta(hours=1) and entities[3][3]["score"] == 3.0
    assert store.delete_entities(SCORES, [{"user_id": 0}, {"user_id": 42}]) == 1
    later = now + timedelta(days=2)  # every value is 2 days + 1 hour old: past the ttl
    assert list(store.iter_entities(SCORES, now=later)) == []
    assert len(list(store.iter_entities(SCORES, now=later, include_expired=True))) == 9
    gone = store.cleanup(SCORES, now=now, existing_keys=[{"user_id": i} for i in range(1, 6)])
    assert (gone.scanned, gone.removed_gone, gone.removed_expired) == (9, 4, 0)
    assert sorted(k["user_id"] for k in gone.examples) == [6, 7, 8, 9]  # type: ignore[type-var]
    expired = store.cleanup(SCORES, now=later)
    assert (expired.scanned, expired.removed_expired, expired.removed) == (5, 5, 5)
    assert list(store.iter_entities(SCORES, include_expired=True)) == []
