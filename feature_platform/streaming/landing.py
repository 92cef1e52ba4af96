"""Offline landing of stream events: every processed event, in atomic micro-batch files.

Layout, per tenant and source, one directory per UTC event date::

    <offline_dir>/~events/{tenant}/{source}/date=YYYY-MM-DD/p{partition}-{ms}-{seq}-{landed_us}.parquet

A file holds the events with that event date of one commit: one batch of each of the
partitions a processor round applied (the embedded processor), or of one partition (the
Spark engine); it is named after its first event's partition and position. Columns: the source's
join keys, ``event_timestamp``, ``created_timestamp`` and fields, plus ``_partition``,
``_stream_ms`` / ``_stream_seq`` (the log position), ``_late`` (dead-lettered),
``_shed`` (views that shed the event), ``_landed_us`` and, for a replayed dead letter,
``_origin_ms`` / ``_origin_seq`` (its first position, whose dead-lettered row it supersedes). Files are written atomically
(temp file, fsync, rename) BEFORE the batch is applied online, so a crash can leave an
event landed twice, never missing: :func:`read_landed_events` keeps one row per log position
(the newest landing, i.e. the attempt that was applied) and drops a dead-lettered row once
its replay has landed, so each event counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from feature_platform.errors import OfflineStoreError
from feature_platform.files import make_durable_dir
from feature_platform.offline.duckdb_sql import connect, quote
from feature_platform.offline.store import quote_path, write_atomically
from feature_platform.online.keys import decode_entity
from feature_platform.rows.timestamps import UTC_MICROS, utc_now_micros
from feature_platform.specs import StreamSource
from feature_platform.streaming.batch import BatchPlan
from feature_platform.streaming.log import LogEvent, parse_stream_id

EVENTS_DIR = "~events"
_META = [
    pa.field("_partition", pa.int32()),
    pa.field("_stream_ms", pa.int64()),
    pa.field("_stream_seq", pa.int64()),
    pa.field("_late", pa.bool_()),
    pa.field("_shed", pa.list_(pa.string())),
    pa.field("_landed_us", pa.int64()),
    pa.field("_origin_ms", pa.int64()),
    pa.field("_origin_seq", pa.int64()),
]
_DAY_US = 86_400_000_000


def landed_schema(source: StreamSource) -> pa.Schema:
    """The schema of landed events of ``source``."""
    fields = [pa.field(k, t.arrow_type) for k, t in source.key_types.items()]
    fields += [pa.field("event_timestamp", UTC_MICROS), pa.field("created_timestamp", UTC_MICROS)]
    fields += [pa.field(n, t.arrow_type) for n, t in source.field_types.items()]
    return pa.schema(fields + _META)


def source_dir(offline_dir: Path, tenant: str, source: str) -> Path:
    """The landing directory of ``source`` for ``tenant``."""
    return Path(offline_dir) / EVENTS_DIR / tenant / source


def events_table(
    source: StreamSource,
    events: Sequence[LogEvent],
    late: set[tuple[int, bytes]],
    shed: dict[tuple[int, bytes], list[str]],
    landed_us: int,
) -> pa.Table:
    """Landed rows of ``events`` (log order); ``late`` and ``shed`` are keyed by
    ``(partition, stream id)``: stream ids repeat across partitions."""
    key_names = source.key_names
    decoded: dict[bytes, dict[str, object]] = {}
    for entity in dict.fromkeys(e.entity for e in events):
        decoded[entity] = decode_entity(entity, key_names)
    n = len(events)
    columns: dict[str, Sequence[object]] = {k: [decoded[e.entity][k] for e in events] for k in key_names}
    columns["event_timestamp"] = [e.event_us for e in events]
    columns["created_timestamp"] = [e.created_us for e in events]
    field_columns = list(zip(*(e.values for e in events), strict=True)) if n else [() for _ in source.field_types]
    for name, column in zip(source.field_types, field_columns, strict=True):
        columns[name] = column
    columns["_partition"] = [e.partition for e in events]
    columns["_stream_ms"] = [e.position[0] for e in events]
    columns["_stream_seq"] = [e.position[1] for e in events]
    columns["_late"] = [(e.partition, e.stream_id) in late for e in events] if late else [False] * n
    columns["_shed"] = [shed.get((e.partition, e.stream_id), []) for e in events] if shed else [[]] * n
    columns["_landed_us"] = [landed_us] * n
    origins = [parse_stream_id(e.origin) if e.origin is not None else None for e in events]
    columns["_origin_ms"] = [o[0] if o else None for o in origins]
    columns["_origin_seq"] = [o[1] if o else None for o in origins]
    schema = landed_schema(source)
    arrays = []
    for f in schema:
        values = columns[f.name]
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(values, pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def land_batch(offline_dir: Path, tenant: str, plan: BatchPlan, *, landed_us: int | None = None) -> list[Path]:
    """Write the events of ``plan`` (applied and dead-lettered), one atomic file per event date."""
    return land_plans(offline_dir, tenant, [plan], landed_us=landed_us)


def land_plans(offline_dir: Path, tenant: str, plans: Sequence[BatchPlan], *, landed_us: int | None = None) -> list[Path]:
    """Write the events of ``plans`` (one batch each of distinct partitions) in one commit:
    one atomic, fsynced file per source and event date holding every plan's events of
    that date. Returns once all are durable."""
    landed = utc_now_micros() if landed_us is None else landed_us
    groups: dict[tuple[str, int], tuple[StreamSource, list[LogEvent]]] = {}
    late: set[tuple[int, bytes]] = set()
    shed: dict[tuple[int, bytes], list[str]] = {}
    for plan in plans:
        late.update((plan.partition, d.event.stream_id) for d in plan.dead_letters)
        shed.update(((plan.partition, stream_id), views) for stream_id, views in plan.shed_ids().items())
        for event in plan.events:
            key = (plan.source.name, event.event_us // _DAY_US)
            group = groups.get(key)
            if group is None:
                group = groups[key] = (plan.source, [])
            group[1].append(event)
    paths = []
    for (name, day), (source, events) in sorted(groups.items(), key=lambda item: item[0]):
        date = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).date().isoformat()
        directory = source_dir(offline_dir, tenant, name) / f"date={date}"
        if not directory.is_dir():
            try:
                make_durable_dir(directory)
            except OSError as exc:
                raise OfflineStoreError(f"Cannot create the landing directory {directory}: {exc}") from exc
        first = events[0]
        path = directory / f"p{first.partition}-{first.position[0]}-{first.position[1]}-{landed}.parquet"
        write_atomically(path, events_table(source, events, late, shed, landed))
        paths.append(path)
    return paths


def read_landed_events(
    offline_dir: Path,
    tenant: str,
    source: StreamSource,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pa.Table:
    """Every landed event of ``source`` with event time in ``[start, end)`` (None: open),
    one row per log position, in log order (partition, then position)."""
    schema = landed_schema(source)
    root = source_dir(offline_dir, tenant, source.name)
    files: list[Path] = []
    if root.is_dir():
        for directory in sorted(root.glob("date=*")):
            day = datetime.fromisoformat(directory.name[5:]).replace(tzinfo=UTC)
            if (start is not None and day + timedelta(days=1) <= start) or (end is not None and day >= end):
                continue
            files += sorted(p for p in directory.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        return schema.empty_table()
    conditions = ["TRUE"]
    params: list[object] = []
    if start is not None:
        conditions.append("event_timestamp >= ?")
        params.append(start)
    if end is not None:
        conditions.append("event_timestamp < ?")
        params.append(end)
    names = ", ".join(quote(f.name) for f in schema)
    query = (
        f"WITH landed AS (SELECT {names} FROM read_parquet([{', '.join(quote_path(f) for f in files)}]) "
        f"WHERE {' AND '.join(conditions)} "
        "QUALIFY row_number() OVER (PARTITION BY _partition, _stream_ms, _stream_seq ORDER BY _landed_us DESC) = 1) "
        "SELECT * FROM landed WHERE NOT (_late AND EXISTS (SELECT 1 FROM landed AS r WHERE r._partition = landed._partition "
        "AND r._origin_ms = landed._stream_ms AND r._origin_seq = landed._stream_seq)) "
        "ORDER BY _partition, _stream_ms, _stream_seq"
    )
    with connect() as con:
        try:
            table = con.sql(query, params=params).to_arrow_table()
        except duckdb.Error as exc:
            raise OfflineStoreError(f"Cannot read the landed events of stream {source.name!r}: {exc}") from None
    return table.cast(schema)


def applied_events(events: pa.Table, view_name: str) -> pa.Table:
    """The landed events a view applied online: neither dead-lettered nor shed by it."""
    late = events.column("_late").to_pylist()
    shed = events.column("_shed").to_pylist()
    keep = [not is_late and view_name not in (views or ()) for is_late, views in zip(late, shed, strict=True)]
    return events.filter(pa.array(keep, pa.bool_()))
