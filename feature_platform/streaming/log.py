"""The durable event log: one Redis stream per (tenant, source, partition).

An entry has one field ``d``: msgpack ``[entity, event_us, created_us, [field values]]``
(plus the original stream id as a fifth element for a dead letter replayed on request),
where ``entity`` is the encoded join key (:func:`feature_platform.online.keys.encode_entity`,
the online store's own key encoding), the timestamps are microseconds since the epoch (UTC)
and the field values follow the source's field order (timestamps as microseconds, nulls as
nil). The partition of an entity is ``crc32(entity) % partitions``: stable across processes
and engines, so each entity has exactly one place where it is processed.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import NamedTuple

import msgpack

from feature_platform.online.connection import RedisEndpoint
from feature_platform.streaming.errors import StreamOnClusterError

ENTRY_FIELD = b"d"
_unpackb = msgpack.unpackb
CONSUMER_GROUP = "processors"


def log_endpoint(url: str) -> RedisEndpoint:
    """The Redis that holds the event logs and the stream views' state; a Redis Cluster is
    refused with what to use instead.

    The batch script applies a partition's events, its applied-position guard and its lease
    check in one atomic call, so every key it touches must live on one Redis: on a cluster
    they would span slots.
    """
    endpoint = RedisEndpoint.parse(url)
    if endpoint.is_cluster:
        raise StreamOnClusterError(
            f"The real-time path (push, the stream processor, dead-letter replay) runs on a single Redis, "
            f"not on the Redis Cluster at {endpoint.where}: serve stream views from a tenant whose Redis is "
            "a redis:// URL (redis_url, or tenants.<name>.url in feature_platform.yaml); batch views can "
            "stay on the cluster under another tenant"
        )
    return endpoint


def partition_of(entity: bytes, partitions: int) -> int:
    """The stream partition of an encoded entity key."""
    return zlib.crc32(entity) % partitions


def encode_entry(
    entity: bytes, event_us: int, created_us: int, values: Sequence[object], origin: bytes | None = None
) -> bytes:
    """The ``d`` field of a log entry (``origin``: the stream id of a replayed dead letter)."""
    entry: list[object] = [entity, event_us, created_us, list(values)]
    if origin is not None:
        entry.append(origin)
    return msgpack.packb(entry, use_bin_type=True)


class LogEvent(NamedTuple):
    """One event read from the log: its stream id, partition and decoded content (a named
    tuple: immutable, and built several times faster than a frozen dataclass, once per event
    on the processor's hot path)."""

    stream_id: bytes
    partition: int
    entity: bytes
    event_us: int
    created_us: int
    values: tuple[object, ...]
    position: tuple[int, int]
    """The stream id as ``(milliseconds, sequence)``, ordered like the log."""
    origin: bytes | None = None
    """For a replayed dead letter, its original stream id (it skips the watermark check)."""


def decode_entry(stream_id: bytes, partition: int, data: bytes) -> LogEvent:
    """The event of a log entry (the inverse of :func:`encode_entry`)."""
    entry = _unpackb(data, raw=False, use_list=False)
    ms, _, seq = stream_id.partition(b"-")
    position = (int(ms), int(seq or 0))
    if len(entry) > 4:
        return LogEvent(stream_id, partition, entry[0], entry[1], entry[2], entry[3], position, entry[4])
    return LogEvent(stream_id, partition, entry[0], entry[1], entry[2], entry[3], position)


def parse_stream_id(stream_id: bytes | str) -> tuple[int, int]:
    """``b"1700000000000-3"`` as ``(1700000000000, 3)``."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_stream_id(position: tuple[int, int]) -> bytes:
    """``(ms, seq)`` as a stream id."""
    return f"{position[0]}-{position[1]}".encode()
