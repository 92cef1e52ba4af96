"""The processing of micro-batches of log partitions: the core both engines share.

The embedded processor (:mod:`.processor`) calls :func:`process_round` with what its
consumer group delivered for each of its partitions in a round; the Spark engine
(:mod:`.spark.job`) calls :func:`process_entries` on an executor with the rows of one log
partition of a Spark micro-batch. Both decode, plan (:func:`.batch.plan_batch`: watermark
routing to dead letters, shedding, latest values, tiles), land the plans offline and apply
each in one guarded Redis script. Reading, acknowledging and trimming the log stay with
the engine.

A replayed batch (a crash after the apply, Spark re-running a batch) finds its events at or
before the partition's applied position: the script refuses the stale plan, the state is
reloaded, and the re-plan skips what was applied, so nothing counts twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis

from feature_platform.online.keys import StreamKeys
from feature_platform.specs import FeatureView, StreamSource
from feature_platform.streaming.apply import ApplyStatus, BatchApplier
from feature_platform.streaming.batch import BatchPlan, PartitionState, plan_batch
from feature_platform.streaming.landing import land_plans
from feature_platform.streaming.log import LogEvent, decode_entry, parse_stream_id

# Log entries as both engines read them: (stream id, the entry's ``d`` field), in log order.
Entries = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class BatchOutcome:
    """How one batch ended: the plan that was applied (None when there was nothing new or
    the owner lost its lease), the partition's state after it, and the stale attempts."""

    plan: BatchPlan | None
    state: PartitionState
    lease_lost: bool = False
    replays: int = 0


def load_partition_state(client: redis.Redis, keys: StreamKeys, partition: int) -> PartitionState:
    """The applied position and largest applied event time of ``partition`` (from Redis)."""
    position, max_event = cast(list[Any], client.hmget(keys.progress(partition), ["pos", "max_event"]))
    return PartitionState(
        parse_stream_id(position) if position else (0, 0),
        int(max_event) if max_event else None,
    )


@dataclass(frozen=True)
class PartitionBatch:
    """The entries one partition delivered in a round, and what the engine knows of it:
    ``state`` as it last knew it (read from Redis when None) and whether the partition is
    above the source's ``shed_lag`` (``shedding``)."""

    source: StreamSource
    views: Sequence[FeatureView]
    partition: int
    entries: Entries
    state: PartitionState | None = None
    shedding: bool = False


def process_entries(
    client: redis.Redis,
    applier: BatchApplier,
    offline_dir: Path,
    tenant: str,
    source: StreamSource,
    views: Sequence[FeatureView],
    partition: int,
    entries: Entries,
    *,
    state: PartitionState | None = None,
    owner: str | None = None,
    shedding: bool = False,
) -> BatchOutcome:
    """Process ``entries`` of ``partition`` (:func:`process_round` of that one batch).

    ``state``: the partition's state as the caller last knew it (read from Redis when None);
    ``owner``: the lease holder the script fences on (a former owner's batch is refused);
    ``shedding``: the partition is above the source's ``shed_lag``.
    """
    batch = PartitionBatch(source, views, partition, entries, state, shedding)
    return process_round(client, applier, offline_dir, tenant, [batch], owner=owner)[0]


def process_round(
    client: redis.Redis,
    applier: BatchApplier,
    offline_dir: Path,
    tenant: str,
    batches: Sequence[PartitionBatch],
    *,
    owner: str | None = None,
) -> list[BatchOutcome]:
    """Process the batches of several partitions together (one outcome per batch, in order).

    Group commit: every batch is planned, the plans land offline in one durable commit (one
    file per source and event date, :func:`.landing.land_plans`), then their scripts run in
    one round trip, each guarded on its own partition's position and lease. So a round
    costs one landing and one round trip however many partitions it holds, and every
    event is still durably landed before its batch is applied.
    """
    events = [[decode_entry(stream_id, b.partition, data) for stream_id, data in b.entries] for b in batches]
    states = [
        b.state if b.state is not None else load_partition_state(client, StreamKeys(tenant, b.source.name), b.partition)
        for b in batches
    ]
    outcomes: list[BatchOutcome | None] = [None] * len(batches)
    replays = [0] * len(batches)
    todo = list(range(len(batches)))
    for _ in range(2):
        plans = {i: _plan(batches[i], states[i], events[i]) for i in todo}
        live = [i for i in todo if not plans[i].empty]
        for i in todo:
            if plans[i].empty:
                outcomes[i] = BatchOutcome(None, states[i], replays=replays[i])
        if not live:
            break
        land_plans(offline_dir, tenant, [plans[i] for i in live])
        results = applier.apply_many([plans[i] for i in live], tenant, owner)
        todo = []
        for i, result in zip(live, results, strict=True):
            if result.status is ApplyStatus.APPLIED:
                outcomes[i] = BatchOutcome(plans[i], plans[i].after, replays=replays[i])
            elif result.status is ApplyStatus.LEASE_LOST:
                outcomes[i] = BatchOutcome(None, states[i], lease_lost=True, replays=replays[i])
            else:
                # Applied before (a replay) or planned from a stale position: reload and re-plan.
                replays[i] += 1
                states[i] = load_partition_state(client, StreamKeys(tenant, batches[i].source.name), batches[i].partition)
                todo.append(i)
        if not todo:
            break
    for i in todo:
        outcomes[i] = BatchOutcome(None, states[i], replays=replays[i])
    return cast(list[BatchOutcome], outcomes)


def _plan(batch: PartitionBatch, state: PartitionState, events: list[LogEvent]) -> BatchPlan:
    return plan_batch(batch.source, batch.views, batch.partition, state, events, shedding=batch.shedding)
