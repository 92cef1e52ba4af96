"""The processing of one micro-batch of one log partition: the core both engines share.

The embedded processor (:mod:`.processor`) calls :func:`process_entries` with what its
consumer group delivered; the Spark engine (:mod:`.spark.job`) calls it on an executor with
the rows of one log partition of a Spark micro-batch. It decodes, plans
(:func:`.batch.plan_batch`: watermark routing to dead letters, shedding, latest values,
tiles), lands the plan offline and applies it in one guarded Redis script. Reading,
acknowledging and trimming the log stay with the engine.

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
from feature_platform.streaming.landing import land_batch
from feature_platform.streaming.log import decode_entry, parse_stream_id

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
    """Process ``entries`` of ``partition``.

    ``state``: the partition's state as the caller last knew it (read from Redis when None);
    ``owner``: the lease holder the script fences on (a former owner's batch is refused);
    ``shedding``: the partition is above the source's ``shed_lag``.
    """
    keys = StreamKeys(tenant, source.name)
    events = [decode_entry(stream_id, partition, data) for stream_id, data in entries]
    current = state if state is not None else load_partition_state(client, keys, partition)
    replays = 0
    for _ in range(2):
        plan = plan_batch(source, views, partition, current, events, shedding=shedding)
        if plan.empty:
            break
        land_batch(offline_dir, tenant, plan)
        result = applier.apply(plan, tenant, owner)
        if result.status is ApplyStatus.APPLIED:
            return BatchOutcome(plan, plan.after, replays=replays)
        if result.status is ApplyStatus.LEASE_LOST:
            return BatchOutcome(None, current, lease_lost=True, replays=replays)
        # Applied before (a replay) or planned from a stale position: reload and re-plan.
        replays += 1
        current = load_partition_state(client, keys, partition)
    return BatchOutcome(None, current, replays=replays)
