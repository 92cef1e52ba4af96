"""Health of the real-time path, read from Redis: per partition lag, throughput, dead
letters, shedding, watermark and owner, and the lag-based scaling advice.

The Dagster ``stream_health_sensor`` calls :func:`read_stream_health` each tick and
:func:`scaling_advice` with the per-partition "lag high since" it keeps in its cursor.
The partition is the unit of parallelism: more processors than partitions cannot help.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis

from feature_platform.online.connection import RedisEndpoint, translated_errors
from feature_platform.online.keys import StreamKeys
from feature_platform.rows.timestamps import from_micros
from feature_platform.specs import StreamSource
from feature_platform.streaming.apply import progress_counters
from feature_platform.streaming.log import CONSUMER_GROUP


@dataclass(frozen=True)
class PartitionHealth:
    """One stream partition as Redis sees it now.

    ``backlog``: entries in the log (unprocessed or unacknowledged: acknowledged entries are
    trimmed); ``lag``: entries the consumer group has not delivered yet plus ``pending``
    (delivered, not acknowledged). ``events`` / ``dead_lettered`` / ``replayed`` /
    ``shed`` (per view) count processed events since the partition began;
    ``throughput``: events/s over the owner's last heartbeat interval. ``owner`` holds the
    lease (None: nobody); ``owner_alive``: its lease and heartbeat are current.
    """

    source: str
    partition: int
    backlog: int
    lag: int
    pending: int
    events: int
    dead_lettered: int
    replayed: int
    shed: dict[str, int]
    watermark: datetime | None
    max_event_time: datetime | None
    last_applied_at: datetime | None
    throughput: float
    owner: str | None
    owner_heartbeat_age: timedelta | None
    owner_alive: bool

    @property
    def label(self) -> str:
        """``source:partition``."""
        return f"{self.source}:{self.partition}"


@dataclass(frozen=True)
class SourceHealth:
    """A source's partitions and its dead-letter stream's length."""

    source: str
    partitions: list[PartitionHealth]
    dead_letters: int


def read_stream_health(
    url: str, tenant: str, sources: Sequence[StreamSource], *, now: datetime | None = None
) -> list[SourceHealth]:
    """The health of every partition of ``sources`` for ``tenant`` (two round trips)."""
    now = now or datetime.now(UTC)
    endpoint = RedisEndpoint.parse(url)
    client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)
    try:
        with translated_errors(endpoint, "reading stream health"):
            return _read(client, tenant, sources, now)
    finally:
        client.close()


def _read(client: redis.Redis, tenant: str, sources: Sequence[StreamSource], now: datetime) -> list[SourceHealth]:
    pipe = client.pipeline(transaction=False)
    for source in sources:
        keys = StreamKeys(tenant, source.name)
        pipe.xlen(keys.dead_letters)
        for p in range(source.partitions):
            pipe.xlen(keys.log(p))
            pipe.execute_command("XINFO", "GROUPS", keys.log(p))
            pipe.hgetall(keys.progress(p))
            pipe.get(keys.lease(p))
    replies = iter(pipe.execute(raise_on_error=False))
    raw: list[tuple[StreamSource, int, list[Any]]] = []
    for source in sources:
        dead = next(replies)
        raw.append((source, int(dead) if isinstance(dead, int) else 0, [[next(replies) for _ in range(4)] for _ in range(source.partitions)]))
    owners = sorted({r[3].decode() for _, _, parts in raw for r in parts if isinstance(r[3], bytes)})
    beats: dict[str, int | None] = {}
    if owners:
        pipe = client.pipeline(transaction=False)
        for name in owners:
            pipe.hget(StreamKeys(tenant, "").processor(name), "heartbeat_ms")
        beats = {o: int(b) if b else None for o, b in zip(owners, pipe.execute(), strict=True)}
    now_ms = int(now.timestamp() * 1000)
    out = []
    for source, dead, parts in raw:
        lateness_us = int(source.allowed_lateness.total_seconds() * 1_000_000)
        healths = []
        for p, (length, groups, progress, lease) in enumerate(parts):
            group = _group(groups)
            progress = cast(dict[bytes, bytes], progress) if isinstance(progress, dict) else {}
            counters = progress_counters(progress)
            max_event = int(progress[b"max_event"]) if progress.get(b"max_event") else None
            updated = int(progress[b"updated_ms"]) if progress.get(b"updated_ms") else None
            owner = lease.decode() if isinstance(lease, bytes) else None
            beat = beats.get(owner) if owner else None
            age = timedelta(milliseconds=now_ms - beat) if beat is not None else None
            pending = int(group.get("pending", 0))
            undelivered = group.get("lag")
            length = int(length) if isinstance(length, int) else 0
            healths.append(PartitionHealth(
                source=source.name,
                partition=p,
                backlog=length,
                lag=(int(undelivered) if undelivered is not None else length) + pending,
                pending=pending,
                events=counters.get("events", 0),
                dead_lettered=counters.get("late", 0),
                replayed=counters.get("replayed", 0),
                shed={k[5:]: v for k, v in counters.items() if k.startswith("shed:")},
                watermark=from_micros(max_event - lateness_us) if max_event is not None else None,
                max_event_time=from_micros(max_event) if max_event is not None else None,
                last_applied_at=from_micros(updated * 1000) if updated is not None else None,
                throughput=float(progress.get(b"rate", 0) or 0),
                owner=owner,
                owner_heartbeat_age=age,
                owner_alive=owner is not None and beat is not None,
            ))
        out.append(SourceHealth(source.name, healths, dead))
    return out


def _group(reply: object) -> dict[str, Any]:
    """The ``processors`` group's fields from an ``XINFO GROUPS`` reply ({} if absent)."""
    if not isinstance(reply, list):
        return {}
    for entry in reply:
        fields = dict(zip(entry[::2], entry[1::2], strict=True)) if isinstance(entry, list) else dict(entry)
        fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
        name = fields.get("name")
        if (name.decode() if isinstance(name, bytes) else name) == CONSUMER_GROUP:
            return fields
    return {}


@dataclass(frozen=True)
class ScalingAdvice:
    """How many processors to add, and why.

    ``add_processors``: partitions' worth of processors to add: every partition lagging for
    at least ``sustained_for`` without an owner, plus, per processor, as many of its lagging
    partitions as it can hand over (all but one of its partitions).
    ``needs_more_partitions``: a lagging partition would still be alone on its processor,
    so only more partitions (re-partitioning the source) can help it.
    ``high_since``: when each lagging partition's lag went above the threshold; store it
    (the sensor's cursor) and pass it back next time.
    """

    add_processors: int
    lagging: list[str]
    needs_more_partitions: bool
    high_since: dict[str, datetime] = field(default_factory=dict)


def scaling_advice(
    health: Sequence[SourceHealth],
    *,
    lag_threshold: int,
    sustained_for: timedelta,
    now: datetime | None = None,
    high_since: Mapping[str, datetime] | None = None,
) -> ScalingAdvice:
    """Lag-based scaling: partitions whose lag stayed above ``lag_threshold`` for
    ``sustained_for`` (see :class:`ScalingAdvice`)."""
    now = now or datetime.now(UTC)
    previous = dict(high_since or {})
    since: dict[str, datetime] = {}
    lagging: list[PartitionHealth] = []
    owned_by: dict[str | None, int] = {}
    for source in health:
        for part in source.partitions:
            owned_by[part.owner] = owned_by.get(part.owner, 0) + 1
            if part.lag > lag_threshold:
                since[part.label] = previous.get(part.label, now)
                if now - since[part.label] >= sustained_for:
                    lagging.append(part)
    lagging_by_owner: dict[str | None, int] = {}
    for part in lagging:
        lagging_by_owner[part.owner] = lagging_by_owner.get(part.owner, 0) + 1
    add = 0
    alone = False
    for owner, count in lagging_by_owner.items():
        if owner is None:
            add += count  # nobody processes them: each needs a processor
            continue
        # An owner of n partitions can hand n - 1 of them to new processors, no more.
        add += min(count, owned_by[owner] - 1)
        alone = alone or count > owned_by[owner] - 1
    return ScalingAdvice(add, [p.label for p in lagging], alone, since)

