"""A processor round lands every partition's batch in one durable commit before any of them
is applied (real Redis, real files)."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import redis

from feature_platform import files
from feature_platform.errors import OfflineStoreError
from feature_platform.online.connection import RedisEndpoint
from feature_platform.online.keys import StreamKeys, ViewKeys, encode_entity
from feature_platform.online.transport import RedisTransport
from feature_platform.settings import Settings
from feature_platform.streaming.apply import BatchApplier
from feature_platform.streaming.landing import read_landed_events, source_dir
from feature_platform.streaming.log import CONSUMER_GROUP, ENTRY_FIELD, encode_entry, partition_of
from feature_platform.streaming.micro_batch import Entries, PartitionBatch, process_round
from feature_platform.streaming.processor import (
    ProcessorOptions,
    StreamProcessor,
    batch_friendly_gc,
    run_processor,
)
from feature_platform_tests.streaming.repo import clicks, user_clicks

NOON_YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)


def micros(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000 + at.microsecond


def users_in_two_partitions() -> tuple[tuple[int, int], tuple[int, int]]:
    """(partition, user) for two users whose events go to different partitions."""
    first: dict[int, int] = {}
    for user in range(1, 100):
        first.setdefault(partition_of(encode_entity([user]), clicks.partitions), user)
    (pa, ua), (pb, ub) = sorted(first.items())[:2]
    return (pa, ua), (pb, ub)


def append_with_ids(client: redis.Redis, partition: int, user: int, events: list[tuple[bytes, datetime]]) -> None:
    """Append events under chosen stream ids (the same ids in several partitions)."""
    log = StreamKeys("default", clicks.name).log(partition)
    for stream_id, at in events:
        entry = encode_entry(encode_entity([user]), micros(at), micros(at), ["p", 1.0, 1])
        client.xadd(log, {ENTRY_FIELD: entry}, id=stream_id)


def test_one_round_lands_every_partition_in_one_commit_and_keeps_their_late_flags_apart(
    stream_settings: Settings, redis_client: redis.Redis
) -> None:
    (pa, ua), (pb, ub) = users_in_two_partitions()
    # Both partitions use stream ids 1-1 and 1-2; only partition pa's second event is beyond
    # its watermark (4 minutes before its newest event, lateness 2 minutes).
    append_with_ids(redis_client, pa, ua, [(b"1-1", NOON_YESTERDAY), (b"1-2", NOON_YESTERDAY - timedelta(minutes=4))])
    append_with_ids(redis_client, pb, ub, [(b"1-1", NOON_YESTERDAY), (b"1-2", NOON_YESTERDAY + timedelta(seconds=1))])
    report = run_processor(stream_settings, [user_clicks], until_idle=True, options=ProcessorOptions(lease_ttl_ms=2000, block_ms=20))
    assert (report.applied, report.dead_lettered, report.batches) == (3, 1, 2)
    landed = read_landed_events(stream_settings.offline_dir, "default", clicks)
    flags = {(r["_partition"], r["_stream_seq"]): r["_late"] for r in landed.to_pylist()}
    assert flags == {(pa, 1): False, (pa, 2): True, (pb, 1): False, (pb, 2): False}
    landed_files = list(source_dir(stream_settings.offline_dir, "default", clicks.name).rglob("*.parquet"))
    assert len(landed_files) == 1, landed_files  # both partitions' batches in one commit


def test_a_round_whose_landing_fails_applies_nothing(
    stream_settings: Settings, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pa, ua), (pb, ub) = users_in_two_partitions()
    append_with_ids(redis_client, pa, ua, [(b"1-1", NOON_YESTERDAY)])
    append_with_ids(redis_client, pb, ub, [(b"1-1", NOON_YESTERDAY)])
    keys = StreamKeys("default", clicks.name)
    batches = []
    for partition in (pa, pb):
        redis_client.xgroup_create(keys.log(partition), CONSUMER_GROUP, id="0")
        delivered = cast(list[tuple[bytes, dict[bytes, bytes]]], redis_client.xrange(keys.log(partition)))
        entries: Entries = [(i, f[ENTRY_FIELD]) for i, f in delivered]
        batches.append(PartitionBatch(clicks, [user_clicks], partition, entries))

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    root = source_dir(stream_settings.offline_dir, "default", clicks.name)
    (root / f"date={NOON_YESTERDAY.date().isoformat()}").mkdir(parents=True)  # so the file's own fsync fails
    monkeypatch.setattr(files, "_fsync", disk_full)
    transport = RedisTransport(RedisEndpoint.parse(stream_settings.redis_url), redis.BlockingConnectionPool.from_url(stream_settings.redis_url))
    with pytest.raises(OfflineStoreError, match="No space left"):
        process_round(redis_client, BatchApplier(transport), stream_settings.offline_dir, "default", batches)
    transport.disconnect()
    # Nothing applied online: no position, no counters, no feature row; no landed file either.
    for partition in (pa, pb):
        assert redis_client.exists(keys.progress(partition)) == 0
    layout = ViewKeys("default", user_clicks.name)
    assert redis_client.exists(*(layout.entity_key(encode_entity([u])) for u in (ua, ub))) == 0
    assert not any(Path(p).suffix == ".parquet" and not p.name.startswith(".") for p in root.rglob("*"))


def test_a_partition_whose_lease_is_lost_mid_pipeline_drops_its_next_round_and_loses_nothing(
    stream_settings: Settings, redis_client: redis.Redis
) -> None:
    (pa, ua), (pb, ub) = users_in_two_partitions()
    start = NOON_YESTERDAY
    for partition, user in ((pa, ua), (pb, ub)):
        append_with_ids(redis_client, partition, user, [(f"1-{i}".encode(), start + timedelta(seconds=i)) for i in range(1, 21)])
    keys = StreamKeys("default", clicks.name)
    # Leases are checked every 20 s: the lost lease is found by the batch script, not a check.
    options = ProcessorOptions(batch_size=5, lease_ttl_ms=60_000, heartbeat_s=30, block_ms=20)
    first = StreamProcessor(stream_settings.redis_url, "default", [user_clicks], stream_settings.offline_dir, options=options)
    first._round()  # takes the leases, applies 5 events per partition, plans and lands the next 5
    assert first._carry is not None and {b.partition for b in first._carry.batches} == {pa, pb}
    redis_client.set(keys.lease(pa), "intruder")  # pa changes hands while its next round is planned
    first._round()
    assert not first._by_id[(clicks.name, pa)].owned
    progress = {p: int(redis_client.hget(keys.progress(p), "events") or 0) for p in (pa, pb)}
    assert progress == {pa: 5, pb: 10}
    # pa's delivered but unapplied entries stay pending for whoever owns it next.
    assert redis_client.xpending(keys.log(pa), CONSUMER_GROUP)["pending"] == 10
    first.run(stop=_stopped())  # stops at once: gives back pb's lease, drops its planned round
    redis_client.delete(keys.lease(pa))
    report = run_processor(stream_settings, [user_clicks], until_idle=True, options=options)
    assert report.events == 25  # pa's last 15 and pb's last 10, once each
    for p in (pa, pb):
        assert int(redis_client.hget(keys.progress(p), "events")) == 20  # type: ignore[arg-type]
        assert redis_client.xpending(keys.log(p), CONSUMER_GROUP)["pending"] == 0
    landed = read_landed_events(stream_settings.offline_dir, "default", clicks)
    assert sorted((r["_partition"], r["_stream_seq"]) for r in landed.to_pylist()) == sorted(
        (p, i) for p in (pa, pb) for i in range(1, 21)
    )


def _stopped() -> threading.Event:
    stop = threading.Event()
    stop.set()
    return stop


def test_processors_running_at_once_give_the_collector_settings_back_when_the_last_stops() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    first, second = batch_friendly_gc(), batch_friendly_gc()
    first.__enter__()
    assert gc.get_threshold()[0] >= 10_000 and gc.get_freeze_count() >= frozen
    second.__enter__()
    first.__exit__(None, None, None)  # the first to start stops first: the second still runs tuned
    assert gc.get_threshold()[0] >= 10_000
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
