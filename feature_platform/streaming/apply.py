"""Applying a planned batch to Redis in ONE guarded script call (``APPLY_STREAM_BATCH`` in :mod:`feature_platform.online.scripts`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

import hiredis
import msgpack

from feature_platform.online.codec import encode_values
from feature_platform.online.keys import StreamKeys, ViewKeys
from feature_platform.online.scripts import APPLY_STREAM_BATCH_SHA
from feature_platform.online.transport import PackedCommands, RedisTransport
from feature_platform.rows.timestamps import utc_now_micros
from feature_platform.streaming.batch import BatchPlan
from feature_platform.streaming.log import encode_entry, format_stream_id
from feature_platform.streaming.tiles import MINUTE_US, longest_window_us

_US = timedelta(microseconds=1)
# Keys expire this long after the last moment they can be read (clock skew between hosts).
EXPIRY_GRACE_MS = 60_000


class ApplyStatus(Enum):
    """How a batch's script call ended."""

    APPLIED = 1
    ALREADY_APPLIED = 0
    LEASE_LOST = -1
    STALE_POSITION = -2


@dataclass(frozen=True)
class ApplyResult:
    """The script's verdict and the number of latest-value rows it wrote."""

    status: ApplyStatus
    written: int


def _number(value: Any) -> str:
    # repr of a float round-trips exactly; Lua reads it back as the same double.
    return repr(float(value)) if isinstance(value, float) else str(int(value))


@dataclass
class _TileDelta:
    """One tile's events of a batch, folded as the script merges them: how many values, the
    numeric values in log order (the script adds them one by one, as the offline fold does),
    the smallest and largest (as sent), the newest event by ``(event, created)`` (a later
    equal pair wins) and the distinct values."""

    key: int
    prefix: str
    numeric: bool
    n: int = 0
    sums: list[str] = field(default_factory=list)
    lo: tuple[Any, str] | None = None
    hi: tuple[Any, str] | None = None
    last: tuple[int, int, bytes] | None = None
    distinct: dict[bytes, None] = field(default_factory=dict)

    def add(self, value: Any, event_us: int, created_us: int, distinct: bool, pack: Any) -> None:
        """Fold one event in (log order)."""
        blob = pack(value)
        if value is not None:
            self.n += 1
            if self.numeric:
                text = _number(value)
                self.sums.append(text)
                if self.lo is None or value < self.lo[0]:
                    self.lo = (value, text)
                if self.hi is None or value > self.hi[0]:
                    self.hi = (value, text)
            if distinct:
                self.distinct[blob] = None
        if self.last is None or (event_us, created_us) >= self.last[:2]:
            self.last = (event_us, created_us, blob)

    def args(self) -> list[Any]:
        """This tile's ARGV of ``APPLY_STREAM_BATCH``."""
        assert self.last is not None
        return [
            self.key, self.prefix, "1" if self.numeric else "0", self.n, len(self.sums), *self.sums,
            self.lo[1] if self.lo else "", self.hi[1] if self.hi else "", *self.last, len(self.distinct), *self.distinct,
        ]


def script_call(
    plan: BatchPlan, tenant: str, owner: str | None, *, now_us: int | None = None
) -> tuple[list[bytes], list[Any]]:
    """KEYS and ARGV of ``APPLY_STREAM_BATCH`` for ``plan``."""
    now = utc_now_micros() if now_us is None else now_us
    source = plan.source
    stream_keys = StreamKeys(tenant, source.name)
    keys: list[bytes] = [stream_keys.progress(plan.partition), stream_keys.lease(plan.partition), stream_keys.dead_letters]
    index: dict[bytes, int] = {}

    def key_index(key: bytes) -> int:
        position = index.get(key)
        if position is None:
            keys.append(key)
            position = index[key] = len(keys)
        return position

    replayed = sum(1 for e in plan.events if e.origin is not None)
    counters: list[Any] = [b"events", len(plan.events), b"late", len(plan.dead_letters), b"replayed", replayed]
    for view_plan in plan.views:
        if view_plan.shed:
            counters += [f"shed:{view_plan.view.name}".encode(), len(view_plan.shed)]
    args: list[Any] = [
        owner or "",
        format_stream_id(plan.before.position),
        format_stream_id(plan.after.position),
        "" if plan.after.max_event_us is None else plan.after.max_event_us,
        now // 1000,
        plan.partition,
        len(counters) // 2,
        *counters,
        len(plan.dead_letters),
    ]
    for letter in plan.dead_letters:
        event = letter.event
        entry = encode_entry(event.entity, event.event_us, event.created_us, event.values)
        args += [event.stream_id, letter.reason, letter.watermark_us, entry]
    latest_args: list[Any] = []
    tile_args: list[Any] = []
    tile_count = 0
    kept_args: list[Any] = []
    maintenance: list[Any] = []
    maintained = 0
    lateness_us = source.allowed_lateness // _US
    max_event = plan.after.max_event_us
    for view_plan in plan.views:
        view = view_plan.view
        layout = ViewKeys(tenant, view.name)
        ttl_us = None if view.ttl is None else view.ttl // _US
        for write in view_plan.latest:
            if ttl_us is not None and write.event_us + ttl_us < now:
                continue  # already expired: the batch publish skips these too
            expire_at: object = "" if ttl_us is None else -(-(write.event_us + ttl_us) // 1000) + EXPIRY_GRACE_MS
            latest_args += [key_index(layout.entity_key(write.entity)), write.event_us, write.created_us, expire_at, encode_values(write.values)]
        if not view_plan.tiles:
            continue
        groups = {update.group.name: update.group for update in view_plan.tiles}
        # Per group (the plan shares one object per group): its name and flags; per entity:
        # its tile key's index. Both are reused by every event.
        flags = {id(g): (name, g.numeric, g.distinct) for name, g in groups.items()}
        tile_keys: dict[bytes, int] = {}
        deltas: dict[tuple[int, str], _TileDelta] = {}
        pack = msgpack.packb
        for update in view_plan.tiles:
            group = update.group
            name, numeric, distinct = flags.get(id(group)) or (group.name, group.numeric, group.distinct)
            entity = update.entity
            index_of_key = tile_keys.get(entity)
            if index_of_key is None:
                index_of_key = tile_keys[entity] = key_index(layout.tile_key(entity))
            event_us = update.event_us
            prefix = f"{name}|{(event_us - event_us % group.tile_us) // MINUTE_US}|"
            delta = deltas.get((index_of_key, prefix))
            if delta is None:
                delta = deltas[(index_of_key, prefix)] = _TileDelta(index_of_key, prefix, numeric)
            delta.add(update.value, event_us, update.created_us, distinct, pack)
        for delta in deltas.values():
            tile_args += delta.args()
        tile_count += len(deltas)
        newest: dict[bytes, int] = {}
        for kept in view_plan.kept:
            kept_args += [key_index(layout.events_key(kept.entity)), kept.event_us, kept.member]
            newest[kept.entity] = max(newest.get(kept.entity, kept.event_us), kept.event_us)
        assert max_event is not None  # there were applied events
        # Reads at or after the watermark need the events after it minus the longest window:
        # older whole tiles and kept events are pruned (the state TTL of SEMANTICS.md).
        watermark = max_event - lateness_us
        cutoffs: list[Any] = []
        for group in groups.values():
            oldest_needed = watermark - group.longest_window_us + 1
            keep_from = -(-oldest_needed // group.tile_us) * group.tile_us
            cutoffs += [group.name, keep_from // MINUTE_US]
        longest = longest_window_us(view)
        for entity, newest_event in newest.items():
            expire_at_ms = (newest_event + longest + lateness_us) // 1000 + EXPIRY_GRACE_MS
            maintenance += [
                key_index(layout.tile_key(entity)), key_index(layout.events_key(entity)), expire_at_ms,
                watermark - longest, len(groups), *cutoffs,
            ]
            maintained += 1
    args += [len(latest_args) // 5, *latest_args]
    args += [tile_count, *tile_args]
    args += [len(kept_args) // 3, *kept_args]
    args += [maintained, *maintenance]
    return keys, args


class BatchApplier:
    """Runs ``APPLY_STREAM_BATCH`` on one Redis through the online store's transport
    (hiredis-packed, loaded again when Redis lost its scripts)."""

    def __init__(self, transport: RedisTransport) -> None:
        self.transport = transport

    def apply(self, plan: BatchPlan, tenant: str, owner: str | None, *, now_us: int | None = None) -> ApplyResult:
        """Apply ``plan``. Errors propagate (``OnlineStoreUnavailableError`` when Redis is
        down): the caller retries, and the script's guard makes a retry safe."""
        return self.apply_many([plan], tenant, owner, now_us=now_us)[0]

    def apply_many(
        self, plans: Sequence[BatchPlan], tenant: str, owner: str | None, *, now_us: int | None = None
    ) -> list[ApplyResult]:
        """Apply ``plans`` (of distinct partitions), one script call each, in ONE round trip;
        each call is guarded on its own partition. Errors propagate as in :meth:`apply`."""
        if not plans:
            return []
        sources = ", ".join(sorted({repr(plan.source.name) for plan in plans}))
        replies = self.transport.execute(pack_calls(plans, tenant, owner, now_us=now_us), f"applying a batch of stream {sources}")
        return apply_results(replies)


def pack_calls(plans: Sequence[BatchPlan], tenant: str, owner: str | None, *, now_us: int | None = None) -> PackedCommands:
    """The ``EVALSHA`` calls of ``plans``, one each, packed for one round trip."""
    now = utc_now_micros() if now_us is None else now_us
    packed = []
    for plan in plans:
        keys, args = script_call(plan, tenant, owner, now_us=now)
        packed.append(hiredis.pack_command(("EVALSHA", APPLY_STREAM_BATCH_SHA, len(keys), *keys, *args)))
    return PackedCommands(b"".join(packed), len(packed))


def apply_results(replies: Sequence[Any]) -> list[ApplyResult]:
    """The scripts' replies as results."""
    return [ApplyResult(ApplyStatus(int(reply[0])), int(reply[1])) for reply in replies]


def progress_counters(raw: dict[bytes, bytes]) -> dict[str, int]:
    """The counters of a partition's progress hash: ``events`` (processed), ``late``
    (dead-lettered), ``replayed`` (dead letters applied on request) and ``shed:{view}``."""
    return {
        k.decode(): int(v) for k, v in raw.items() if k in (b"events", b"late", b"replayed") or k.startswith(b"shed:")
    }
