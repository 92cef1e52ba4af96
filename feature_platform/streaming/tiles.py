"""Windowed aggregations: time tiles, the events at the window's edges, and the exact value.

A stream view keeps, per entity, one Redis hash of tiles (``fs:{tenant}:{view}~tiles:{entity}``)
and one sorted set of its recent events (``fs:{tenant}:{view}~events:{entity}``).

**Tiles.** The aggregations of one column with one tile size share a *tile group*
``{column}@{minutes}``; a tile of a group holds, for the applied events of the tile, the
fields ``{group}|{tile start, minutes since epoch}|{stat}``:

* ``n``: events whose value is not null; ``s``: their sum, folded in log order as IEEE
  doubles (numeric columns); ``lo`` / ``hi``: min / max (numeric columns);
* ``le`` / ``lc`` / ``lv``: event time, created time and msgpack value of the tile's newest
  event by ``(event, created)``, null values included (a later equal pair wins, as in the
  online store's compare-and-set);
* ``d|{msgpack value}``: one field per distinct non-null value (groups with a
  ``count_distinct``).

**Events.** Every applied event of the view, scored by its event time (µs), as msgpack
``[event_us, created_us, stream ms, stream seq, {column: value}]`` (the view's aggregated
columns), kept as long as its tiles: the longest window plus the source's lateness.

**The window** of an aggregation at ``t`` is exactly ``t - w < event_timestamp <= t`` (online
reads; the point-in-time join's strict rule ends it at ``t - 1 µs``, see
:class:`WindowSpan`). Its value is computed from the tiles wholly inside it plus the events of
the partial tiles at its two edges: the edge events are folded in log order into one
:class:`TileStats`, then the whole tiles are combined with it in time order. The online read
(:func:`aggregate_row`) and the offline computation (``streaming.offline.aggregate_at``)
both call :func:`window_value` on the same tiles and edge events, so they agree exactly,
floats included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import msgpack

from feature_platform.specs import AggregationFunction, FeatureView, ValueType, ViewRequest
from feature_platform.specs.feature_view import Feature
from feature_platform.specs.stream import Aggregation

MINUTE_US = 60_000_000
_US = timedelta(microseconds=1)
_packb = msgpack.packb


@dataclass(frozen=True)
class TileGroup:
    """The tiles of one column at one tile size, shared by the aggregations using them."""

    column: str
    column_type: ValueType
    tile_us: int
    longest_window_us: int
    distinct: bool = False
    """Whether the tiles keep their distinct values (an aggregation is a count_distinct)."""

    @property
    def name(self) -> str:
        """``{column}@{tile minutes}``, the field prefix of the group's tiles."""
        return f"{self.column}@{self.tile_us // MINUTE_US}"

    @property
    def numeric(self) -> bool:
        """Whether sum/min/max are kept (numeric columns)."""
        return self.column_type.is_numeric

    def tile_start(self, event_us: int) -> int:
        """The start (µs) of the tile that holds ``event_us``."""
        return event_us - event_us % self.tile_us


def tile_groups(view: FeatureView) -> list[TileGroup]:
    """The tile groups of ``view``'s aggregations, in first-use order."""
    source = view.stream_source
    groups: dict[tuple[str, int], TileGroup] = {}
    for feature in view.aggregated_features:
        aggregation = feature.aggregation
        assert aggregation is not None
        tile_us = aggregation.tile_size // _US
        window_us = aggregation.window // _US
        key = (aggregation.column, tile_us)
        known = groups.get(key)
        groups[key] = TileGroup(
            aggregation.column,
            source.field_types[aggregation.column],
            tile_us,
            max(window_us, known.longest_window_us) if known else window_us,
            (known is not None and known.distinct) or aggregation.func is AggregationFunction.COUNT_DISTINCT,
        )
    return list(groups.values())


def window_columns(view: FeatureView) -> list[str]:
    """The columns ``view``'s aggregations read (what its kept events hold), in first-use order."""
    return list(dict.fromkeys(g.column for g in tile_groups(view)))


def longest_window_us(view: FeatureView) -> int:
    """The longest window of ``view``'s aggregations (µs)."""
    return max(g.longest_window_us for g in tile_groups(view))


def group_of(feature: Feature) -> str:
    """The tile group name of an aggregated feature."""
    aggregation = feature.aggregation
    assert aggregation is not None
    return f"{aggregation.column}@{aggregation.tile_size // timedelta(minutes=1)}"


@dataclass
class TileStats:
    """The state of one tile, or of a window's edge events (see the module docstring)."""

    n: int = 0
    s: float = 0.0
    lo: float | int | None = None
    hi: float | int | None = None
    last: tuple[int, int, Any] | None = None
    distinct: set[bytes] = field(default_factory=set)

    def add(self, value: Any, event_us: int, created_us: int, numeric: bool, distinct: bool = False) -> None:
        """Fold one applied event in, exactly as the Redis script does."""
        if value is not None:
            self.n += 1
            if numeric:
                self.s = self.s + float(value)
                if self.lo is None or value < self.lo:
                    self.lo = value
                if self.hi is None or value > self.hi:
                    self.hi = value
            if distinct:
                self.distinct.add(_packb(value))
        if self.last is None or (event_us, created_us) >= self.last[:2]:
            self.last = (event_us, created_us, value)


Tiles = dict[str, dict[int, TileStats]]
"""Tile stats by group name, then by tile start (µs)."""


def parse_tiles(fields: Mapping[bytes, bytes], groups: Sequence[TileGroup]) -> Tiles:
    """The tiles of one entity from its hash (``HGETALL``)."""
    types = {g.name.encode(): g.column_type for g in groups}
    tiles: Tiles = {}
    for raw_name, raw in fields.items():
        # A distinct value's field ends with the value's bytes, which may hold anything.
        group, start_text, stat = raw_name.split(b"|", 2)
        column_type = types.get(group)
        if column_type is None:
            continue  # a group the view no longer has
        stats = tiles.setdefault(group.decode(), {}).setdefault(int(start_text) * MINUTE_US, TileStats())
        if stat == b"n":
            stats.n = int(raw)
        elif stat == b"s":
            stats.s = float(raw)
        elif stat in (b"lo", b"hi"):
            number: float | int = int(raw) if column_type is ValueType.INT64 else float(raw)
            setattr(stats, stat.decode(), number)
        elif stat == b"le":
            stats.last = (int(raw), *(stats.last[1:] if stats.last else (0, None)))
        elif stat == b"lc":
            stats.last = (stats.last[0] if stats.last else 0, int(raw), stats.last[2] if stats.last else None)
        elif stat == b"lv":
            value = msgpack.unpackb(raw, raw=False, timestamp=3)
            stats.last = (*(stats.last[:2] if stats.last else (0, 0)), value)
        elif stat.startswith(b"d|"):
            stats.distinct.add(stat[2:])
    return tiles


def fold_events(
    events: Iterable[tuple[int, int, Any]], group: TileGroup, tiles: dict[int, TileStats] | None = None
) -> dict[int, TileStats]:
    """Tiles of ``group`` from ``(event_us, created_us, value)`` in log order."""
    tiles = {} if tiles is None else tiles
    numeric = group.numeric
    distinct = group.distinct
    for event_us, created_us, value in events:
        stats = tiles.setdefault(group.tile_start(event_us), TileStats())
        stats.add(value, event_us, created_us, numeric, distinct)
    return tiles


@dataclass(frozen=True, slots=True)
class WindowEvent:
    """One kept event: its times, log position and aggregated columns' values."""

    event_us: int
    created_us: int
    position: tuple[int, int]
    values: Mapping[str, Any]


def encode_window_event(event_us: int, created_us: int, position: tuple[int, int], values: Mapping[str, Any]) -> bytes:
    """The sorted-set member of a kept event (see the module docstring)."""
    return _packb([event_us, created_us, position[0], position[1], dict(values)])


def decode_window_event(member: bytes) -> WindowEvent:
    """A kept event from its sorted-set member."""
    event_us, created_us, ms, seq, values = msgpack.unpackb(member, raw=False)
    return WindowEvent(event_us, created_us, (ms, seq), values)


@dataclass(frozen=True)
class WindowSpan:
    """The events ``after_us < event_time <= until_us`` of a window, cut into tiles of
    ``tile_us``: the whole tiles inside it and the partial ones at its edges."""

    after_us: int
    until_us: int
    tile_us: int

    @property
    def _first(self) -> int:
        # The first tile start inside the window (a tile boundary at or after after_us + 1).
        return -((-(self.after_us + 1)) // self.tile_us) * self.tile_us

    @property
    def _end(self) -> int:
        # The end of the last whole tile inside the window.
        return (self.until_us + 1) // self.tile_us * self.tile_us

    def whole_tiles(self) -> range:
        """The starts of the tiles wholly inside the window, oldest first."""
        first, end = self._first, self._end
        return range(first, end, self.tile_us) if first < end else range(0)

    def edges(self) -> list[tuple[int, int]]:
        """The inclusive event-time ranges of the window outside its whole tiles."""
        first, end = self._first, self._end
        if first >= end:
            return [(self.after_us + 1, self.until_us)]
        out = []
        if self.after_us + 1 < first:
            out.append((self.after_us + 1, first - 1))
        if end <= self.until_us:
            out.append((end, self.until_us))
        return out


def window_span(aggregation: Aggregation, at_us: int, *, inclusive: bool = True) -> WindowSpan:
    """The window of ``aggregation`` at ``at_us``: ``(at - w, at]`` (an online read, or the
    join's inclusive opt-in), or ``(at - w, at)`` (the join's strict rule)."""
    until = at_us if inclusive else at_us - 1
    return WindowSpan(at_us - aggregation.window // _US, until, aggregation.tile_size // _US)


def window_value(
    feature: Feature,
    tiles: Mapping[int, TileStats],
    events: Sequence[WindowEvent],
    span: WindowSpan,
    column_type: ValueType,
) -> Any:
    """The aggregation ``feature`` over ``span``: its whole tiles from ``tiles`` and its edge
    events from ``events`` (log order; any event outside the edges is ignored)."""
    aggregation = feature.aggregation
    assert aggregation is not None
    function = aggregation.func
    column = aggregation.column
    numeric = column_type.is_numeric
    distinct = function is AggregationFunction.COUNT_DISTINCT
    edge = TileStats()
    edges = span.edges()
    for event in events:
        at = event.event_us
        if any(lo <= at <= hi for lo, hi in edges):
            edge.add(event.values.get(column), at, event.created_us, numeric, distinct)
    inside = [edge, *(tiles[start] for start in span.whole_tiles() if start in tiles)]
    if function is AggregationFunction.COUNT:
        return sum(t.n for t in inside)
    if function is AggregationFunction.COUNT_DISTINCT:
        seen: set[bytes] = set()
        for t in inside:
            seen |= t.distinct
        return len(seen)
    if function is AggregationFunction.LAST:
        lasts = [t.last for t in inside if t.last is not None]
        return max(lasts, key=lambda last: last[:2])[2] if lasts else None
    values = [t for t in inside if t.n]
    if function is AggregationFunction.SUM or function is AggregationFunction.MEAN:
        total = 0.0
        count = 0
        for t in values:
            total = total + t.s
            count += t.n
        if function is AggregationFunction.MEAN:
            return total / count if count else None
        return int(total) if column_type is ValueType.INT64 else total
    if function is AggregationFunction.MIN:
        return min((t.lo for t in values if t.lo is not None), default=None)
    return max((t.hi for t in values if t.hi is not None), default=None)


@dataclass
class EntityWindows:
    """One entity's tiles (every group) and kept events (log order) of one view: the state a
    read or a recomputation computes its aggregations from."""

    tiles: Tiles = field(default_factory=dict)
    events: list[WindowEvent] = field(default_factory=list)

    def values(self, view: FeatureView, features: Sequence[str], at_us: int, *, inclusive: bool = True) -> dict[str, Any]:
        """The requested aggregated features at ``at_us`` (see :func:`window_span`)."""
        types = view.stream_source.field_types
        out: dict[str, Any] = {}
        for name in features:
            feature = view.feature(name)
            aggregation = feature.aggregation
            assert aggregation is not None
            span = window_span(aggregation, at_us, inclusive=inclusive)
            group_tiles = self.tiles.get(group_of(feature), {})
            out[name] = window_value(feature, group_tiles, self.events, span, types[aggregation.column])
        return out


def edge_ranges(view: FeatureView, features: Sequence[str], at_us: int) -> list[tuple[int, int]]:
    """The event-time ranges (inclusive, merged, oldest first) whose kept events an online
    read of ``features`` at ``at_us`` needs."""
    ranges = sorted(
        edge
        for name in features
        for edge in window_span(_aggregation(view, name), at_us).edges()
    )
    merged: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _aggregation(view: FeatureView, name: str) -> Aggregation:
    aggregation = view.feature(name).aggregation
    assert aggregation is not None
    return aggregation


def split_aggregate_requests(requests: Sequence[ViewRequest]) -> tuple[list[ViewRequest], list[bool]]:
    """``requests`` with the aggregated features of each stream view split off into a request
    of their own (right after the view's latest-value features), and which are aggregates.

    Aggregates are computed at read time from tiles and edge events, so they are PRESENT with
    the read time as their timestamp, whatever the view's ttl; latest-value features keep the
    stored row's timestamp and ttl.
    """
    out: list[ViewRequest] = []
    flags: list[bool] = []
    for request in requests:
        view = request.view
        if not view.is_stream or not view.aggregations:
            out.append(request)
            flags.append(False)
            continue
        aggregated = {f.name for f in view.aggregated_features}
        latest = tuple(f for f in request.features if f not in aggregated)
        windowed = tuple(f for f in request.features if f in aggregated)
        if latest:
            out.append(ViewRequest(view, latest))
            flags.append(False)
        if windowed:
            out.append(ViewRequest(view, windowed))
            flags.append(True)
    return out, flags


def _as_mapping(reply: Mapping[bytes, bytes] | Sequence[bytes] | None) -> Mapping[bytes, bytes]:
    # HGETALL replies a map under RESP3 and a flat [field, value, ...] list under RESP2.
    if isinstance(reply, Mapping):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True)) if reply else {}


def aggregate_row(
    view: FeatureView,
    features: Sequence[str],
    tiles_reply: Mapping[bytes, bytes] | Sequence[bytes] | None,
    event_replies: Sequence[Sequence[bytes]],
    at_us: int,
) -> tuple[int, int, dict[str, Any]]:
    """A stored-row triple ``(at, at, values)`` of aggregated ``features`` computed at
    ``at_us`` from the entity's tile hash (``HGETALL`` reply) and its kept events in the
    :func:`edge_ranges` (one ``ZRANGE ... BYSCORE`` reply per range)."""
    kept: dict[tuple[int, int], WindowEvent] = {}
    for reply in event_replies:
        for member in reply:
            event = decode_window_event(member)
            kept[event.position] = event
    state = EntityWindows(
        parse_tiles(_as_mapping(tiles_reply), tile_groups(view)),
        [kept[position] for position in sorted(kept)],
    )
    return at_us, at_us, state.values(view, features, at_us)
