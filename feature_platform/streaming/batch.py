"""The processing of one micro-batch of one stream partition, as a plan (pure Python).

:func:`plan_batch` decides everything about a batch without touching Redis or disk: which
events are already applied (at or before the partition's applied position), which are late
(event time below the watermark: dead letters, with their reason), which a view sheds, the
newest event per entity for the latest-value features of each view, the tile updates of
each view's aggregations and the events kept for their windows' edges, and the new position
and watermark. The processor (:mod:`.processor`) and any other engine (a Spark
``foreachBatch``) then land the plan offline (:mod:`.landing`) and apply it in one guarded
Redis script (:mod:`.apply`).

A dead letter replayed on request (``origin`` set) is applied whatever the watermark.
The watermark advances event by event in log order (the largest event time applied so far
minus the source's ``allowed_lateness``), so the decisions do not depend on where batch
boundaries fall: a batch replayed after a crash decides the same.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

from feature_platform.rows.timestamps import from_micros
from feature_platform.specs import FeatureView, StreamSource, ValueType
from feature_platform.streaming.log import LogEvent
from feature_platform.streaming.tiles import (
    TileGroup,
    encode_window_event,
    tile_groups,
    window_columns,
)

_US = timedelta(microseconds=1)
NO_POSITION = (0, 0)
LATE_REASON = "late: event time {event} is older than the partition's watermark {watermark} (max event time {max_event} minus allowed lateness {lateness})"


@dataclass(frozen=True)
class PartitionState:
    """What a partition has applied: the last applied stream position and the largest
    applied event time (None before the first event)."""

    position: tuple[int, int] = NO_POSITION
    max_event_us: int | None = None

    def watermark_us(self, lateness: timedelta) -> int | None:
        """The watermark: max event time minus the allowed lateness."""
        return None if self.max_event_us is None else self.max_event_us - lateness // _US


@dataclass(frozen=True)
class DeadLetter:
    """An event sent to the dead-letter stream, with why."""

    event: LogEvent
    reason: str
    watermark_us: int


class LatestWrite(NamedTuple):
    """The newest event of an entity in a batch, for a view's latest-value features (a named
    tuple: one per entity per batch, cheap to build)."""

    entity: bytes
    event_us: int
    created_us: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TileUpdate:
    """One applied event folded into one tile group of one entity."""

    entity: bytes
    group: TileGroup
    event_us: int
    created_us: int
    value: Any


@dataclass(frozen=True)
class KeptEvent:
    """One applied event kept for a view's window edges (its sorted-set member)."""

    entity: bytes
    event_us: int
    member: bytes


@dataclass
class ViewPlan:
    """What a batch does to one view."""

    view: FeatureView
    latest: list[LatestWrite] = field(default_factory=list)
    tiles: list[TileUpdate] = field(default_factory=list)
    kept: list[KeptEvent] = field(default_factory=list)
    shed: list[LogEvent] = field(default_factory=list)


@dataclass
class BatchPlan:
    """Everything one batch of one partition does (see the module docstring)."""

    source: StreamSource
    partition: int
    before: PartitionState
    after: PartitionState
    events: list[LogEvent]
    skipped: list[LogEvent]
    applied: list[LogEvent]
    dead_letters: list[DeadLetter]
    views: list[ViewPlan]

    @property
    def empty(self) -> bool:
        """Whether the batch had nothing new (every event was already applied)."""
        return not self.events

    def shed_ids(self) -> dict[bytes, list[str]]:
        """The views that shed each event, by stream id."""
        out: dict[bytes, list[str]] = {}
        for plan in self.views:
            for event in plan.shed:
                out.setdefault(event.stream_id, []).append(plan.view.name)
        return out


def sheds(event: LogEvent, view: FeatureView) -> bool:
    """Whether ``view`` skips ``event`` while shedding: a fixed sample of its events (by a
    hash of the stream id), so every replay and every engine sheds the same events."""
    fraction = view.load_shedding
    if fraction is None:
        return False
    return zlib.crc32(event.stream_id + view.name.encode()) % 10_000 < fraction * 10_000


def feature_value(value: object, dtype: ValueType) -> object:
    """A log value as the online store stores it (timestamps as UTC datetimes)."""
    if dtype is ValueType.TIMESTAMP and isinstance(value, int):
        return from_micros(value)
    return value


def plan_batch(
    source: StreamSource,
    views: Sequence[FeatureView],
    partition: int,
    state: PartitionState,
    events: Sequence[LogEvent],
    *,
    shedding: bool = False,
) -> BatchPlan:
    """Plan one batch of ``partition`` (events in log order) from ``state``.

    ``shedding``: the partition is overloaded (lag above the source's ``shed_lag``), so views
    that opted into load shedding skip their sample of events.
    """
    lateness = source.allowed_lateness // _US
    field_index = {name: i for i, name in enumerate(source.field_types)}
    fresh = [e for e in events if e.position > state.position]
    skipped = [e for e in events if e.position <= state.position]
    max_event = state.max_event_us
    applied: list[LogEvent] = []
    dead: list[DeadLetter] = []
    for event in fresh:
        if event.origin is None and max_event is not None and event.event_us < max_event - lateness:
            watermark = max_event - lateness
            reason = LATE_REASON.format(
                event=from_micros(event.event_us).isoformat(),
                watermark=from_micros(watermark).isoformat(),
                max_event=from_micros(max_event).isoformat(),
                lateness=source.allowed_lateness,
            )
            dead.append(DeadLetter(event, reason, watermark))
            continue
        applied.append(event)
        max_event = event.event_us if max_event is None else max(max_event, event.event_us)
    view_plans = [_plan_view(view, applied, field_index, shedding) for view in views]
    after = PartitionState(fresh[-1].position if fresh else state.position, max_event)
    return BatchPlan(source, partition, state, after, fresh, skipped, applied, dead, view_plans)


def _plan_view(view: FeatureView, applied: Sequence[LogEvent], field_index: dict[str, int], shedding: bool) -> ViewPlan:
    plan = ViewPlan(view)
    if shedding and view.load_shedding is not None:
        kept: list[LogEvent] = []
        for event in applied:
            (plan.shed if sheds(event, view) else kept).append(event)
    else:
        kept = list(applied)
    latest_features = [(f.name, f.dtype, field_index[f.name]) for f in view.latest_features]
    if latest_features:
        newest: dict[bytes, LogEvent] = {}
        for event in kept:
            known = newest.get(event.entity)
            # Equal (event, created) pairs: the later one in the log wins, as in the store.
            if known is None or (event.event_us, event.created_us) >= (known.event_us, known.created_us):
                newest[event.entity] = event
        # Only timestamps change form (replaced in place: the features keep their order).
        pairs = [(name, i) for name, _, i in latest_features]
        converted = [(name, i) for name, dtype, i in latest_features if dtype is ValueType.TIMESTAMP]
        latest = plan.latest
        for entity, event in newest.items():
            row = event.values
            values = {name: row[i] for name, i in pairs}
            for name, i in converted:
                values[name] = feature_value(row[i], ValueType.TIMESTAMP)
            latest.append(LatestWrite(entity, event.event_us, event.created_us, values))
    if not view.aggregated_features:
        return plan
    groups = tile_groups(view)
    columns = [(name, field_index[name]) for name in window_columns(view)]
    for event in kept:
        for group in groups:
            value = event.values[field_index[group.column]]
            plan.tiles.append(TileUpdate(event.entity, group, event.event_us, event.created_us, value))
        values = {name: event.values[i] for name, i in columns}
        member = encode_window_event(event.event_us, event.created_us, event.position, values)
        plan.kept.append(KeptEvent(event.entity, event.event_us, member))
    return plan
