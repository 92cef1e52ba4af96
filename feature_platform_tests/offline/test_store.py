"""The offline store: partitioned atomic writes, validation, reads, and pruning by the join."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_platform import files
from feature_platform.errors import (
    MissingColumnError,
    OfflineStoreError,
    SchemaError,
)
from feature_platform.feature_repo.views import user_purchase_activity, user_session_activity
from feature_platform.offline import (
    FeatureTable,
    NullValueError,
    OfflineStore,
    PartitionWindowError,
    RowOutsideWindowError,
    point_in_time_join,
)

VIEW = user_purchase_activity  # daily, ttl 30 days, keys: user_id


def day(d: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, d, hour, tzinfo=UTC)


def rows(
    events: list[datetime],
    users: list[int] | None = None,
    value: int = 1,
    created: datetime | None = None,
) -> pd.DataFrame:
    n = len(events)
    return pd.DataFrame(
        {
            "user_id": users or [1] * n,
            "event_timestamp": events,
            "created_timestamp": [created or day(28)] * n,
            "purchases_7d": [value] * n,
            "spend_7d": [float(value)] * n,
            "purchases_30d": [value] * n,
            "spend_30d": [float(value)] * n,
            "avg_order_value_30d": [float(value)] * n,
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> OfflineStore:
    return OfflineStore(tmp_path / "offline")


def test_write_splits_into_partitions_with_empty_ones_materialized(store: OfflineStore) -> None:
    writes = store.write_partitions(VIEW, day(1), day(4), rows([day(1, 5), day(3, 1), day(3, 2)]))
    assert [(w.start, w.end, w.row_count) for w in writes] == [
        (day(1), day(2), 1),
        (day(2), day(3), 0),
        (day(3), day(4), 2),
    ]
    assert store.materialized_partitions(VIEW) == [day(1), day(2), day(3)]
    assert writes[1].path == store.partition_path(VIEW, day(2))
    empty = pq.read_table(writes[1].path)
    assert empty.num_rows == 0 and empty.schema.equals(VIEW.arrow_schema)
    assert store.read(VIEW).num_rows == 3
    assert store.read(VIEW, day(3), day(3, 2), ["user_id", "event_timestamp"]).to_pylist() == [
        {"user_id": 1, "event_timestamp": day(3, 1)}
    ]


def test_write_dedups_keeping_last_sorts_and_normalizes_timestamps(store: OfflineStore) -> None:
    naive = rows([day(2, 3), day(2, 1), day(2, 3)], users=[2, 1, 2])
    naive["purchases_7d"] = [10, 20, 30]
    naive["event_timestamp"] = naive["event_timestamp"].dt.tz_localize(None)
    store.write_partitions(VIEW, day(2), day(3), naive)
    table = pq.read_table(store.partition_path(VIEW, day(2)))
    assert table.schema.equals(VIEW.arrow_schema)
    assert table.column("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.select(["user_id", "event_timestamp", "purchases_7d"]).to_pylist() == [
        {"user_id": 1, "event_timestamp": day(2, 1), "purchases_7d": 20},
        {"user_id": 2, "event_timestamp": day(2, 3), "purchases_7d": 30},
    ]
    # Aware input in another zone names the same instants.
    tokyo = rows([day(2, 1)]).assign(
        event_timestamp=lambda f: f["event_timestamp"].dt.tz_convert("Asia/Tokyo")
    )
    store.write_partitions(VIEW, day(2), day(3), tokyo)
    assert store.read(VIEW).column("event_timestamp").to_pylist() == [day(2, 1)]


def test_rewriting_a_partition_replaces_it_and_is_idempotent(store: OfflineStore) -> None:
    store.write_partitions(VIEW, day(2), day(3), rows([day(2, 1), day(2, 2)], value=1))
    store.write_partitions(VIEW, day(2), day(3), rows([day(2, 5)], value=2))
    first = store.read(VIEW)
    store.write_partitions(VIEW, day(2), day(3), rows([day(2, 5)], value=2))
    assert store.read(VIEW).equals(first)
    assert first.column("purchases_7d").to_pylist() == [2]


def test_hourly_partitions(store: OfflineStore) -> None:
    view = user_session_activity
    frame = rows([day(2, 3), day(2, 4)]).drop(
        columns=["purchases_7d", "spend_7d", "purchases_30d", "spend_30d", "avg_order_value_30d"]
    )
    frame = frame.assign(session_page_views=1, session_duration_s=2.0, page_views_1h=3)
    writes = store.write_partitions(view, day(2, 3), day(2, 6), frame)
    assert [w.row_count for w in writes] == [1, 1, 0]
    assert store.materialized_partitions(view) == [day(2, 3), day(2, 4), day(2, 5)]
    with pytest.raises(PartitionWindowError, match="not the start of a hourly partition"):
        store.write_partitions(view, day(2, 3) + timedelta(minutes=1), day(2, 6), frame)


def test_validation_errors_write_nothing(store: OfflineStore) -> None:
    store.write_partitions(VIEW, day(1), day(3), rows([day(1, 1)], value=7))
    before = {p: p.read_bytes() for p in (store.root / VIEW.name).iterdir()}
    good = rows([day(1, 1), day(2, 1)])
    bad_cases = [
        (good.drop(columns=["spend_7d"]), MissingColumnError, "'spend_7d'"),
        (good.assign(purchases_7d=["a", "b"]), SchemaError, "'purchases_7d'.*string.*int64"),
        (good.assign(purchases_7d=[1.5, 2.0]), SchemaError, "'purchases_7d'.*without loss"),
        (good.assign(created_timestamp=["x", "y"]), SchemaError, "'created_timestamp'"),
        (good.assign(user_id=[1, None]), NullValueError, "'user_id'.*null"),
        (good.assign(created_timestamp=[day(1), None]), NullValueError, "'created_timestamp'"),
        (rows([day(1, 1), day(3, 0)]), RowOutsideWindowError, "1 row.*outside the write window"),
    ]
    for frame, error, message in bad_cases:
        with pytest.raises(error, match=message):
            store.write_partitions(VIEW, day(1), day(3), frame)
    with pytest.raises(PartitionWindowError, match="empty"):
        store.write_partitions(VIEW, day(3), day(3), good)
    with pytest.raises(PartitionWindowError, match="not the start of a daily partition"):
        store.write_partitions(VIEW, day(1, 5), day(3), good)
    assert {p: p.read_bytes() for p in (store.root / VIEW.name).iterdir()} == before


def test_failed_write_leaves_the_old_partition_and_no_temp_file(
    store: OfflineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_partitions(VIEW, day(1), day(2), rows([day(1, 1)], value=1))
    path = store.partition_path(VIEW, day(1))
    old = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    # The new rows are fully written to the temp file; the failure comes before the rename.
    monkeypatch.setattr(files, "_fsync", disk_full)
    with pytest.raises(OfflineStoreError, match="No space left"):
        store.write_partitions(VIEW, day(1), day(2), rows([day(1, 2)], value=2))
    assert path.read_bytes() == old
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


_CRASH_WRITER = """
import sys
from datetime import datetime, timezone
from pathlib import Path
import numpy as np, pandas as pd
from feature_platform.feature_repo.views import user_purchase_activity as view
from feature_platform.offline import OfflineStore
n = 3_000_000
start = datetime(2026, 1, 1, tzinfo=timezone.utc)
frame = pd.DataFrame({
    "user_id": np.arange(n), "event_timestamp": pd.Timestamp(start) + pd.to_timedelta(np.arange(n) % 80000, unit="s"),
    "created_timestamp": pd.Timestamp(start), "purchases_7d": 2, "spend_7d": 2.0, "purchases_30d": 2,
    "spend_30d": 2.0, "avg_order_value_30d": 2.0})
print("ready", flush=True)
OfflineStore(Path(sys.argv[1])).write_partitions(view, start, datetime(2026, 1, 2, tzinfo=timezone.utc), frame)
"""


def test_killed_writer_leaves_a_whole_partition(store: OfflineStore) -> None:
    store.write_partitions(VIEW, day(1), day(2), rows([day(1, 1)], value=1))
    path = store.partition_path(VIEW, day(1))
    old = path.read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", _CRASH_WRITER, str(store.root)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in path.parent.iterdir()):
        assert writer.poll() is None and time.monotonic() < deadline, (
            "writer never started its temp file"
        )
        time.sleep(0.002)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    content = pq.read_table(path)  # readable: the old file or the complete new one
    assert path.read_bytes() == old or content.num_rows == 3_000_000


def test_join_never_opens_partitions_outside_its_window(store: OfflineStore) -> None:
    store.write_partitions(VIEW, day(1), day(28), rows([day(d, 1) for d in range(1, 28)], value=5))
    entity = pd.DataFrame({"user_id": [1, 1], "event_timestamp": [day(26), day(27)]})
    table = store.feature_table(VIEW, ["purchases_7d"])
    # ttl 30 days covers everything: the window is [Dec 27, Jan 27]; Jan 27 itself is needed.
    # Corrupt a partition after the last entity time: the join must not read it.
    store.write_partitions(VIEW, day(28), day(30), rows([day(29, 1)], value=9))
    store.partition_path(VIEW, day(29)).write_bytes(b"not parquet")
    short = dataclasses.replace(VIEW, ttl=timedelta(days=2))
    # With a 2-day ttl the window is [Jan 24, Jan 27]: corrupt an older partition too.
    store.partition_path(VIEW, day(10)).write_bytes(b"not parquet")
    result = point_in_time_join(entity, [store.feature_table(short, ["purchases_7d"])])
    assert result["purchases_7d"].tolist() == [5, 5]
    assert store.source(short).files(day(24), day(27)) == [
        store.partition_path(VIEW, day(d)) for d in range(24, 28)
    ]
    # Inside the window a corrupt file is read, and fails: the check above can fail.
    with pytest.raises(OfflineStoreError):
        point_in_time_join(entity, [table])


def test_partitions_wholly_inside_the_window_are_scanned_unfiltered_and_edges_filtered(
    store: OfflineStore,
) -> None:
    events = [day(d, h) for d in range(20, 28) for h in (0, 6, 23)]
    frame = rows(events)
    frame["purchases_7d"] = range(len(events))
    store.write_partitions(VIEW, day(20), day(28), frame)
    short = dataclasses.replace(VIEW, ttl=timedelta(days=2, hours=12))
    source = store.source(short)
    # [Jan 22 18:00, Jan 26 12:00] cuts Jan 22 and Jan 26; Jan 23 to 25 lie inside.
    start, end = day(22, 18), day(26, 12)
    def inside(start: datetime, end: datetime) -> list[Path]:
        return [path for path, whole in source.window_files(start, end) if whole]

    assert source.files(start, end) == [store.partition_path(VIEW, day(d)) for d in range(22, 27)]
    assert [path for path, _ in source.window_files(start, end)] == source.files(start, end)
    assert inside(start, end) == [store.partition_path(VIEW, day(d)) for d in range(23, 26)]
    assert inside(day(23), day(25, 23) + timedelta(hours=1, microseconds=-1)) == [
        store.partition_path(VIEW, day(d)) for d in range(23, 26)
    ]
    # The join's window, [Jan 22 11:00, Jan 26 12:00], cuts the same edge partitions, which
    # hold rows on both sides of it; the result is the same as on the rows in memory.
    entity = pd.DataFrame(
        {"user_id": [1] * 4, "event_timestamp": [day(25, 1), day(26, 12), day(24, 23), day(25)]}
    )
    from_store = point_in_time_join(entity, [store.feature_table(short, ["purchases_7d"])])
    in_memory = point_in_time_join(
        entity,
        [FeatureTable("activity", frame, ["user_id"], ["purchases_7d"], ttl=short.ttl)],
    )
    assert from_store["purchases_7d"].tolist() == in_memory["purchases_7d"].tolist()
    assert from_store["purchases_7d"].tolist() == [15, 19, 13, 14]


def test_read_prunes_partitions_and_filters_rows(store: OfflineStore) -> None:
    store.write_partitions(VIEW, day(1), day(4), rows([day(1, 1), day(2, 1), day(2, 5), day(3, 1)]))
    store.partition_path(VIEW, day(1)).write_bytes(b"garbage")
    got = store.read(VIEW, day(2), day(2, 3), ["event_timestamp"])
    assert got.column("event_timestamp").to_pylist() == [day(2, 1)]
    with pytest.raises(MissingColumnError, match="'nope'"):
        store.read(VIEW, columns=["nope"])
    empty = store.read(VIEW, day(10), day(11))
    assert empty.num_rows == 0 and empty.schema.equals(VIEW.arrow_schema)


def test_large_write_round_trips(store: OfflineStore) -> None:
    n = 50_000
    rng = np.random.default_rng(7)
    frame = rows([day(1)] * n)
    frame["user_id"] = rng.integers(0, 1000, n)
    frame["event_timestamp"] = pd.Timestamp(day(1)) + pd.to_timedelta(
        rng.integers(0, 3 * 86_400_000_000, n), unit="us"
    )
    store.write_partitions(VIEW, day(1), day(4), frame)
    read = store.read(VIEW).to_pandas()
    expected = frame.drop_duplicates(
        ["user_id", "event_timestamp", "created_timestamp"], keep="last"
    )
    assert len(read) == len(expected)
    keys = ["user_id", "event_timestamp", "created_timestamp"]
    pd.testing.assert_frame_equal(
        read[keys].sort_values(keys).reset_index(drop=True),
        expected[keys].sort_values(keys).reset_index(drop=True),
        check_dtype=False,
    )
