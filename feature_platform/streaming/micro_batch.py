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
from feature_platform.streaming.apply import ApplyResult, ApplyStatus, BatchApplier
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


@dataclass(frozen=True)
class PreparedRound:
    """A round planned and durably landed, not applied yet: one plan per batch, and the
    states the plans start from."""

    batches: list[PartitionBatch]
    states: list[PartitionState]
    plans: list[BatchPlan]

    @property
    def live_plans(self) -> list[BatchPlan]:
        """The plans with something new, in order: what the scripts apply."""
        return [plan for plan in self.plans if not plan.empty]

    def without(self, partitions: set[tuple[str, int]]) -> PreparedRound:
        """This round minus the batches of ``partitions`` (``(source, partition)`` pairs)."""
        keep = [i for i, b in enumerate(self.batches) if (b.source.name, b.partition) not in partitions]
        return PreparedRound([self.batches[i] for i in keep], [self.states[i] for i in keep], [self.plans[i] for i in keep])


def prepare_round(client: redis.Redis, offline_dir: Path, tenant: str, batches: Sequence[PartitionBatch]) -> PreparedRound:
    """Decode and plan ``batches`` (from their states, read from Redis when None), then land
    the plans with something new offline in one durable commit (one file per source and
    event date, :func:`.landing.land_plans`)."""
    states = [
        b.state if b.state is not None else load_partition_state(client, StreamKeys(tenant, b.source.name), b.partition)
        for b in batches
    ]
    plans = [
        _plan(b, state, [decode_entry(stream_id, b.partition, data) for stream_id, data in b.entries])
        for b, state in zip(batches, states, strict=True)
    ]
    prepared = PreparedRound(list(batches), states, plans)
    live = prepared.live_plans
    if live:
        land_plans(offline_dir, tenant, live)
    return prepared


def settle_round(
    client: redis.Redis,
    applier: BatchApplier,
    offline_dir: Path,
    tenant: str,
    prepared: PreparedRound,
    results: Sequence[ApplyResult],
    *,
    owner: str | None = None,
) -> list[BatchOutcome]:
    """The outcome of each batch of ``prepared`` from its scripts' ``results`` (one per live
    plan). A batch refused as applied before (a replay) or planned from a stale position is
    planned again from the reloaded state and applied once more, alone."""
    outcomes: list[BatchOutcome] = []
    for batch, outcome in zip(prepared.batches, _settle_once(prepared, results), strict=True):
        if outcome.replays:
            retry = PartitionBatch(batch.source, batch.views, batch.partition, batch.entries, None, batch.shedding)
            again = prepare_round(client, offline_dir, tenant, [retry])
            (outcome,) = _settle_once(again, applier.apply_many(again.live_plans, tenant, owner))
            outcome = BatchOutcome(outcome.plan, outcome.state, outcome.lease_lost, replays=outcome.replays + 1)
        outcomes.append(outcome)
    return outcomes


def _settle_once(prepared: PreparedRound, results: Sequence[ApplyResult]) -> list[BatchOutcome]:
    """Outcomes without a further retry: a batch refused as applied before or planned from a
    stale position counts one replay and stays unapplied."""
    outcomes = []
    answers = iter(results)
    for state, plan in zip(prepared.states, prepared.plans, strict=True):
        if plan.empty:
            outcomes.append(BatchOutcome(None, state))
            continue
        status = next(answers).status
        if status is ApplyStatus.APPLIED:
            outcomes.append(BatchOutcome(plan, plan.after))
        else:
            lost = status is ApplyStatus.LEASE_LOST
            outcomes.append(BatchOutcome(None, state, lease_lost=lost, replays=int(not lost)))
    return outcomes


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

    Group commit: every batch is planned, the plans land offline in one durable commit,
    then their scripts run in one round trip, each guarded on its own partition's position
    and lease (:func:`prepare_round`, :meth:`.apply.BatchApplier.apply_many`,
    :func:`settle_round`). So a round costs one landing and one round trip however many
    partitions it holds, and every event is durably landed before its batch is applied.
    """
    prepared = prepare_round(client, offline_dir, tenant, batches)
    results = applier.apply_many(prepared.live_plans, tenant, owner)
    return settle_round(client, applier, offline_dir, tenant, prepared, results, owner=owner)


def _plan(batch: PartitionBatch, state: PartitionState, events: list[LogEvent]) -> BatchPlan:
    return plan_batch(batch.source, batch.views, batch.partition, state, events, shedding=batch.shedding)
