"""Offline views of stream views, computed from the landed events.

* :func:`latest_rows`: a stream view's latest-value rows (keys, timestamps, features) from
  landed events, one per (keys, event_timestamp, created_timestamp), the later in the log
  winning, exactly as the online compare-and-set applied them.
* :func:`aggregate_at`: a view's windowed aggregations at each entity row's time, folded
  from the landed events with the online tiles' own arithmetic, so the offline value at
  ``t`` equals the online read at ``t`` (floats included).
* :func:`recompute_stream_partition`: the daily batch correction's input: a partition of
  the view recomputed from ALL landed events (dead-lettered and shed ones included), its
  latest-value features and its aggregations at each row's time.
* :func:`historical_inputs`: what ``FeatureStore.get_historical_features`` joins for a
  stream view: partitions the correction wrote come from the offline store, newer ones
  from the landed events the processor applied.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from feature_platform.offline.duckdb_sql import connect, quote
from feature_platform.offline.feature_table import FeatureTable
from feature_platform.offline.store import OfflineStore
from feature_platform.online.keys import check_key_value
from feature_platform.rows.timestamps import UTC_MICROS, as_utc, epoch_micros
from feature_platform.specs import FeatureView
from feature_platform.streaming.landing import applied_events, read_landed_events
from feature_platform.streaming.tiles import (
    EntityWindows,
    WindowEvent,
    fold_events,
    longest_window_us,
    tile_groups,
    window_columns,
)

_META_ORDER = "_stream_ms DESC, _stream_seq DESC"


def latest_rows(events: pa.Table, view: FeatureView) -> pa.Table:
    """The view's latest-value rows from ``events`` (landed events, already filtered): keys,
    timestamps and the latest-value features, one row per (keys, event, created)."""
    keys = view.join_keys
    latest = [f.name for f in view.latest_features]
    columns = [*keys, "event_timestamp", "created_timestamp", *latest]
    if events.num_rows == 0:
        return pa.schema([view.arrow_schema.field(c) for c in columns]).empty_table()
    partition_by = ", ".join(quote(c) for c in [*keys, "event_timestamp", "created_timestamp"])
    with connect() as con:
        con.register("events", events)
        table = con.sql(
            f"SELECT {', '.join(quote(c) for c in columns)} FROM events "
            f"QUALIFY row_number() OVER (PARTITION BY {partition_by} ORDER BY {_META_ORDER}) = 1 "
            f"ORDER BY {partition_by}"
        ).to_arrow_table()
    return table.cast(pa.schema([view.arrow_schema.field(c) for c in columns]))


def aggregate_at(
    events: pa.Table,
    view: FeatureView,
    entity_rows: Sequence[tuple[tuple[object, ...], datetime]],
    features: Sequence[str],
    *,
    inclusive: bool = False,
) -> dict[str, list[Any]]:
    """The aggregated ``features`` of ``view`` for each ``(join-key values, t)``, from the
    applied ``events`` (landed, in log order) with ``t - window < event time < t`` (``<= t``
    inclusive), through the online read's own tiles and edge arithmetic
    (:func:`feature_platform.streaming.tiles.window_value`)."""
    groups = tile_groups(view)
    columns = window_columns(view)
    longest = longest_window_us(view)
    key_columns = [events.column(k).to_pylist() for k in view.join_keys]
    event_us = [epoch_micros(t) for t in events.column("event_timestamp").to_pylist()]
    created_us = [epoch_micros(t) for t in events.column("created_timestamp").to_pylist()]
    positions = list(zip(events.column("_stream_ms").to_pylist(), events.column("_stream_seq").to_pylist(), strict=True))
    values = {c: events.column(c).to_pylist() for c in columns}
    by_entity: dict[tuple[object, ...], list[int]] = {}
    for index, key in enumerate(zip(*key_columns, strict=True)):
        by_entity.setdefault(key, []).append(index)
    # Each entity's events by event time (ties in log order), to find a window's by bisection.
    by_time = {key: sorted(rows, key=lambda i: (event_us[i], i)) for key, rows in by_entity.items()}
    times = {key: [event_us[i] for i in rows] for key, rows in by_time.items()}
    out: dict[str, list[Any]] = {name: [] for name in features}
    for key, at in entity_rows:
        at_us = epoch_micros(as_utc(at, "entity timestamp"))
        until = at_us if inclusive else at_us - 1
        entity = tuple(key)
        ordered, entity_times = by_time.get(entity, []), times.get(entity, [])
        window = ordered[bisect_right(entity_times, at_us - longest) : bisect_right(entity_times, until)]
        rows = sorted(window)  # back to log order
        state = EntityWindows(
            events=[WindowEvent(event_us[i], created_us[i], positions[i], {c: values[c][i] for c in columns}) for i in rows]
        )
        for group in groups:
            column = values[group.column]
            state.tiles[group.name] = fold_events(((event_us[i], created_us[i], column[i]) for i in rows), group)
        for name, value in state.values(view, features, at_us, inclusive=inclusive).items():
            out[name].append(value)
    return out


def recompute_stream_partition(
    offline_dir: Path, tenant: str, view: FeatureView, start: datetime, end: datetime
) -> pa.Table:
    """The view's offline rows with event time in ``[start, end)`` recomputed from every
    landed event (applied, dead-lettered and shed; a replayed dead letter once): one row per
    ``(keys, event_timestamp, created_timestamp)`` with the latest-value features of that
    event and each aggregation's value at the row's event time, ``t - w < event time <= t``
    over every landed event (those of the window before ``start`` too). Write them with
    ``OfflineStore.write_partitions`` and publish them with the online store's write (the
    same compare-and-set), so late events reach training data and the online store."""
    aggregated = [f.name for f in view.aggregated_features]
    reach = timedelta(microseconds=longest_window_us(view)) if aggregated else timedelta(0)
    events = read_landed_events(offline_dir, tenant, view.stream_source, start - reach, end)
    inside = events.filter(pc.greater_equal(events.column("event_timestamp"), pa.scalar(start, UTC_MICROS)))
    rows = latest_rows(inside, view)
    if not aggregated:
        return rows.cast(view.arrow_schema)
    key_columns = [rows.column(k).to_pylist() for k in view.join_keys]
    at = rows.column("event_timestamp").to_pylist()
    values = aggregate_at(events, view, list(zip(zip(*key_columns, strict=True), at, strict=True)), aggregated, inclusive=True)
    for feature in view.aggregated_features:
        rows = rows.append_column(feature.name, pa.array(values[feature.name], feature.dtype.arrow_type))
    return rows.cast(view.arrow_schema)


def historical_inputs(
    offline_dir: Path, tenant: str, store: OfflineStore, view: FeatureView, start: datetime | None = None, end: datetime | None = None
) -> pa.Table:
    """Events of ``view`` as the offline side knows them in ``[start, end)``: in a partition
    the batch correction wrote, every landed event; elsewhere the events the processor
    applied to the view."""
    events = read_landed_events(offline_dir, tenant, view.stream_source, start, end)
    corrected = set(store.materialized_partitions(view))
    if not corrected or events.num_rows == 0:
        return applied_events(events, view.name)
    floor = view.partitioning.floor
    in_corrected = pa.array([floor(t) in corrected for t in events.column("event_timestamp").to_pylist()], pa.bool_())
    applied = applied_events(events.filter(pc.invert(in_corrected)), view.name)
    return pa.concat_tables([events.filter(in_corrected), applied]).sort_by(
        [("_partition", "ascending"), ("_stream_ms", "ascending"), ("_stream_seq", "ascending")]
    )


def stream_feature_table(events: pa.Table, view: FeatureView, features: Sequence[str]) -> FeatureTable:
    """A point-in-time join input of ``view``'s latest-value ``features`` over ``events``."""
    return FeatureTable(
        name=view.name,
        source=latest_rows(events, view),
        join_keys=view.join_keys,
        features=list(features),
        ttl=view.ttl,
        deduplicated=True,
    )


def entity_keys(row: dict[str, object], view: FeatureView) -> tuple[object, ...]:
    """The checked join-key values of ``view`` in an entity row."""
    return tuple(check_key_value(row[k], k, t) for k, t in view.join_key_types.items())
