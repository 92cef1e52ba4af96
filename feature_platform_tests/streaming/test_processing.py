"""Push, process, read: lateness, dead letters, idempotence, and online == offline (real Redis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import redis

from feature_platform.online.connection import RedisEndpoint
from feature_platform.online.keys import StreamKeys, encode_entity
from feature_platform.online.transport import RedisTransport
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.settings import Settings
from feature_platform.streaming.apply import ApplyStatus, BatchApplier
from feature_platform.streaming.batch import PartitionState, plan_batch
from feature_platform.streaming.dead_letters import iter_dead_letters, replay_dead_letters
from feature_platform.streaming.errors import InvalidRowsError
from feature_platform.streaming.landing import read_landed_events, source_dir
from feature_platform.streaming.log import CONSUMER_GROUP, ENTRY_FIELD, decode_entry, partition_of
from feature_platform.streaming.micro_batch import PartitionBatch, process_round
from feature_platform.streaming.processor import ProcessorOptions, run_processor
from feature_platform_tests.streaming.helpers import burst, click, totals
from feature_platform_tests.streaming.repo import clicks, registry, user_clicks

FAST = ProcessorOptions(lease_ttl_ms=2000, block_ms=20)


def drain(settings: Settings) -> None:
    run_processor(settings, [user_clicks], until_idle=True, options=FAST)


def online(store: FeatureStore, users: list[int], now: datetime) -> pd.DataFrame:
    features = [f"user_clicks:{f}" for f in user_clicks.feature_names]
    return store.get_online_features([{"user_id": u} for u in users], features, now=now).to_df(include_metadata=False)


def test_bad_rows_are_refused_naming_row_and_column_and_nothing_is_appended(stream_settings: Settings, redis_client: redis.Redis) -> None:
    store = FeatureStore(stream_settings, registry=registry())
    now = datetime.now(UTC)
    good = click(1, now)
    cases = [
        ({**good, "amount": "lots"}, "row 2, column 'amount': expected float64"),
        ({**good, "user_id": "1"}, "row 2, column 'user_id': expected int64"),
        ({**good, "event_timestamp": "yesterday"}, "row 2, column 'event_timestamp'"),
        ({k: v for k, v in good.items() if k != "items"}, "row 2, column 'items': the field is missing"),
        ({**good, "colour": "red"}, "row 2, column 'colour': not a column"),
    ]
    for bad, message in cases:
        with pytest.raises(InvalidRowsError, match=message):
            store.push("clicks", [good, good, bad])
    keys = StreamKeys("default", "clicks")
    assert sum(redis_client.xlen(keys.log(p)) for p in range(clicks.partitions)) == 0
    result = store.push("clicks", [good, {**good, "event_timestamp": now.isoformat()}])
    assert result.accepted == 2
    assert result.partitions == {partition_of(encode_entity([1]), clicks.partitions): 2}
    store.close()


def test_lateness_dead_letters_and_replay(stream_settings: Settings, redis_client: redis.Redis) -> None:
    store = FeatureStore(stream_settings, registry=registry())
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    store.push("clicks", [click(1, t0, "a", 1.0, 1), click(1, t0 + timedelta(seconds=60), "b", 2.0, 2)])
    # Out of order but within the 2-minute lateness: applied, yet not the latest value.
    store.push("clicks", [click(1, t0 + timedelta(seconds=30), "c", 4.0, 4)])
    # Same event time as "b", pushed later (greater created time): the newest pair wins.
    store.push("clicks", [click(1, t0 + timedelta(seconds=60), "d", 8.0, 8)])
    # 5 minutes before the newest event: beyond the watermark -> dead letter.
    store.push("clicks", [click(1, t0 - timedelta(minutes=4), "late", 16.0, 16)])
    drain(stream_settings)
    now = datetime.now(UTC)
    row = online(store, [1], now).iloc[0]
    assert row["page"] == "d" and row["amount"] == 8.0
    assert row["page_count_5m"] == 4 and row["items_sum_10m"] == 15 and row["items_max_5m"] == 8
    assert row["amount_min_5m"] == 1.0 and row["page_last_5m"] == "d"
    letters = list(iter_dead_letters(redis_client, StreamKeys("default", "clicks")))
    assert len(letters) == 1
    assert letters[0].event.values[0] == "late"
    assert "older than the partition's watermark" in letters[0].reason
    assert totals(redis_client) == {"events": 5, "late": 1, "replayed": 0}

    moved = replay_dead_letters(stream_settings.redis_url, "default", clicks)
    assert moved == 1 and replay_dead_letters(stream_settings.redis_url, "default", clicks) == 0
    drain(stream_settings)
    row = online(store, [1], now).iloc[0]
    assert row["items_sum_10m"] == 31  # the replayed event is inside the 10-minute window
    assert row["page"] == "d"  # and older than the latest value
    landed = read_landed_events(stream_settings.offline_dir, "default", clicks)
    assert landed.num_rows == 5 and not any(landed.column("_late").to_pylist())
    store.close()


def test_a_replayed_batch_changes_nothing_and_a_former_owner_cannot_write(stream_settings: Settings, redis_client: redis.Redis) -> None:
    store = FeatureStore(stream_settings, registry=registry())
    now = datetime.now(UTC)
    store.push("clicks", [click(3, now - timedelta(seconds=s), "x", 1.5, 2) for s in range(5)])
    partition = partition_of(encode_entity([3]), clicks.partitions)
    log = StreamKeys("default", "clicks").log(partition)
    redis_client.xgroup_create(log, CONSUMER_GROUP, id="0")
    entries: Any = redis_client.xreadgroup(CONSUMER_GROUP, "me", {log: ">"})
    entries = entries[0][1]
    events = [decode_entry(i, partition, f[ENTRY_FIELD]) for i, f in entries]
    plan = plan_batch(clicks, [user_clicks], partition, PartitionState(), events)
    applier = BatchApplier(
        RedisTransport(RedisEndpoint.parse(stream_settings.redis_url), redis.BlockingConnectionPool.from_url(stream_settings.redis_url))
    )
    redis_client.set(StreamKeys("default", "clicks").lease(partition), "me")
    assert applier.apply(plan, "default", "someone-else").status is ApplyStatus.LEASE_LOST
    assert applier.apply(plan, "default", "me").status is ApplyStatus.APPLIED
    before = online(store, [3], now + timedelta(seconds=1))
    assert before.iloc[0]["page_count_5m"] == 5
    assert applier.apply(plan, "default", "me").status is ApplyStatus.ALREADY_APPLIED
    assert plan_batch(clicks, [user_clicks], partition, plan.after, events).empty
    pd.testing.assert_frame_equal(online(store, [3], now + timedelta(seconds=1)), before)
    assert totals(redis_client)["events"] == 5
    store.close()


def test_online_equals_offline_after_a_burst(stream_settings: Settings, redis_client: redis.Redis) -> None:
    store = FeatureStore(stream_settings, registry=registry())
    now = datetime.now(UTC)
    rows = burst(now, 3000, 150)
    for start in range(0, len(rows), 500):
        store.push("clicks", rows[start : start + 500])
    drain(stream_settings)
    counts = totals(redis_client)
    assert counts["events"] == len(rows)
    users = sorted({r["user_id"] for r in rows})
    at = datetime.now(UTC)
    minute = at.replace(second=0, microsecond=0)
    # Now, instants mid-tile (the windows' edges cut through tiles), on a tile boundary and
    # 1 µs before it, and instants after the burst while its events leave the windows.
    instants = [
        at, at - timedelta(seconds=61, microseconds=123_457), at - timedelta(seconds=13, microseconds=1),
        minute, minute - timedelta(microseconds=1), at + timedelta(minutes=3, seconds=7, microseconds=250_001),
        at + timedelta(minutes=7, seconds=41, microseconds=5), minute + timedelta(minutes=10),
    ]
    names = user_clicks.feature_names
    for instant in instants:
        on = online(store, users, instant)
        entity_df = pd.DataFrame({"user_id": users, "event_timestamp": [instant] * len(users)})
        off = store.get_historical_features(entity_df, [f"user_clicks:{f}" for f in names], inclusive=True)
        assert list(off.columns) == ["user_id", "event_timestamp", *names]
        for feature in user_clicks.aggregated_features if instant != at else user_clicks.features:
            online_values = [None if pd.isna(v) else v for v in on[feature.name].tolist()]
            offline_values = [None if pd.isna(v) else v for v in off[feature.name].tolist()]
            assert online_values == offline_values, (feature.name, instant)
    # Decay: twenty minutes after the burst the 5- and 10-minute windows are empty.
    later = online(store, users, at + timedelta(minutes=21))
    assert set(later["page_count_5m"]) == {0} and set(later["page_count_distinct_10m"]) == {0}
    assert later["amount_mean_1h"].notna().any()
    store.close()


def test_a_count_decays_exactly_when_the_event_leaves_the_window(stream_settings: Settings) -> None:
    store = FeatureStore(stream_settings, registry=registry())
    # Mid-tile event times, so no tile boundary coincides with the window's edge.
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1, seconds=20, microseconds=-123_456)
    second = first + timedelta(seconds=17, microseconds=1)
    store.push("clicks", [click(5, first, "a", 2.5, 3), click(5, second, "b", 4.0, 1)])
    drain(stream_settings)
    w = timedelta(minutes=5)
    us = timedelta(microseconds=1)
    features = ["page_count_5m", "amount_sum_5m", "items_max_5m", "page_last_5m", "page_count_distinct_10m"]
    expected = {
        first - us: [0, 0.0, None, None, 0],  # nothing has happened yet
        first: [1, 2.5, 3, "a", 1],  # an online read at t knows the event at t
        second - us: [1, 2.5, 3, "a", 1],
        second: [2, 6.5, 3, "b", 2],
        first + w - us: [2, 6.5, 3, "b", 2],  # the first event's last microsecond in the window
        first + w: [1, 4.0, 1, "b", 2],  # gone from the 5-minute windows, not the 10-minute one
        second + w - us: [1, 4.0, 1, "b", 2],
        second + w: [0, 0.0, None, None, 2],
        first + 2 * w: [0, 0.0, None, None, 1],
        second + 2 * w: [0, 0.0, None, None, 0],
    }
    for instant, values in expected.items():
        row = online(store, [5], instant).iloc[0]
        got = [None if pd.isna(row[f]) else row[f] for f in features]
        assert got == values, f"online at {instant.isoformat()}"
    # The training frame: the same windows under <=; under the strict rule (event < t) an
    # event at exactly t is not known yet, and the window's trailing edge stays exclusive.
    strict_expected = {**expected, first: expected[first - us], second: expected[second - us]}
    instants = list(expected)
    entity_df = pd.DataFrame({"user_id": [5] * len(instants), "event_timestamp": instants})
    refs = [f"user_clicks:{f}" for f in features]
    inclusive = store.get_historical_features(entity_df, refs, inclusive=True)
    strict = store.get_historical_features(entity_df, refs)
    for i, instant in enumerate(instants):
        got = [None if pd.isna(v) else v for v in inclusive.loc[i, features]]
        assert got == expected[instant], f"offline (inclusive) at {instant.isoformat()}"
        got = [None if pd.isna(v) else v for v in strict.loc[i, features]]
        assert got == strict_expected[instant], f"offline (strict) at {instant.isoformat()}"
    store.close()


def test_a_round_over_several_partitions_is_one_group_commit_and_a_replayed_round_changes_nothing(
    stream_settings: Settings, redis_client: redis.Redis
) -> None:
    store = FeatureStore(stream_settings, registry=registry())
    now = datetime.now(UTC)
    rows = [click(u, now - timedelta(seconds=u), "x", 1.0, 1) for u in range(40)]
    store.push("clicks", rows)
    keys = StreamKeys("default", "clicks")
    logs = [keys.log(p) for p in range(clicks.partitions)]
    for log in logs:
        redis_client.xgroup_create(log, CONSUMER_GROUP, id="0")
    reply: Any = redis_client.xreadgroup(CONSUMER_GROUP, "me", dict.fromkeys(logs, ">"))
    batches = [
        PartitionBatch(clicks, [user_clicks], int(log.rsplit(b":", 1)[1]), [(i, f[ENTRY_FIELD]) for i, f in entries])
        for log, entries in reply
    ]
    assert len(batches) == clicks.partitions
    applier = BatchApplier(
        RedisTransport(RedisEndpoint.parse(stream_settings.redis_url), redis.BlockingConnectionPool.from_url(stream_settings.redis_url))
    )
    outcomes = process_round(redis_client, applier, stream_settings.offline_dir, "default", batches)
    assert all(o.plan is not None and o.replays == 0 for o in outcomes)
    files = list(source_dir(stream_settings.offline_dir, "default", "clicks").rglob("*.parquet"))
    assert len(files) == 1  # every partition of the round in one landing write
    before = online(store, list(range(40)), now + timedelta(seconds=1))
    assert before["page_count_5m"].tolist() == [1] * 40
    # The same round again from the states it was planned from: each script refuses its stale
    # plan, each partition is re-planned from Redis and finds nothing new.
    stale = [replace(b, state=PartitionState()) for b in batches]
    again = process_round(redis_client, applier, stream_settings.offline_dir, "default", stale)
    assert all(o.plan is None and o.replays == 1 for o in again)
    pd.testing.assert_frame_equal(online(store, list(range(40)), now + timedelta(seconds=1)), before)
    assert totals(redis_client)["events"] == 40
    assert read_landed_events(stream_settings.offline_dir, "default", clicks).num_rows == 40
    store.close()
