"""Windowed aggregations as time tiles: the layout, the fold and the read-time sum.

A stream view keeps, per entity, one Redis hash of tiles (``fs:{tenant}:{view}~tiles:{entity}``).
The aggregations of one column with one tile size share a *tile group* ``{column}@{minutes}``;
a tile of a group holds, for the applied events of the tile, the fields
``{group}|{tile start, minutes since epoch}|{stat}``:

* ``n``: events whose value is not null; ``s``: their sum, folded in log order as IEEE
  doubles (numeric columns); ``lo`` / ``hi``: min / max (numeric columns);
* ``le`` / ``lc`` / ``lv``: event time, created time and msgpack value of the tile's newest
  event by ``(event, created)``, null values included (a later equal pair wins, as in the
  online store's compare-and-set).

:func:`window_value` combines the tiles of a window at read time; the offline computation
builds the same tiles from landed events with the same fold (:func:`fold_events`), so the
two agree exactly, floats included. The window at ``t`` is the ``window / tile`` tiles
ending with the tile that holds ``t``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import msgpack

from feature_platform.specs import AggregationFunction, FeatureView, ValueType, ViewRequest
from feature_platform.specs.feature_view import Feature

MINUTE_US = 60_000_000
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class TileGroup:
    """The tiles of one column at one tile size, shared by the aggregations using them."""

    column: str
    column_type: ValueType
    tile_us: int
    longest_window_us: int

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
        longest = max(window_us, known.longest_window_us) if known else window_us
        groups[key] = TileGroup(aggregation.column, source.field_types[aggregation.column], tile_us, longest)
    return list(groups.values())


def group_of(feature: Feature) -> str:
    """The tile group name of an aggregated feature."""
    aggregation = feature.aggregation
    assert aggregation is not None
    return f"{aggregation.column}@{aggregation.tile_size // timedelta(minutes=1)}"


@dataclass
class TileStats:
    """The state of one tile (see the module docstring)."""

    n: int = 0
    s: float = 0.0
    lo: float | int | None = None
    hi: float | int | None = None
    last: tuple[int, int, Any] | None = None

    def add(self, value: Any, event_us: int, created_us: int, numeric: bool) -> None:
        """Fold one applied event in, exactly as the Redis script does."""
        if value is not None:
            self.n += 1
            if numeric:
                self.s = self.s + float(value)
                if self.lo is None or value < self.lo:
                    self.lo = value
                if self.hi is None or value > self.hi:
                    self.hi = value
        if self.last is None or (event_us, created_us) >= self.last[:2]:
            self.last = (event_us, created_us, value)


Tiles = dict[str, dict[int, TileStats]]
"""Tile stats by group name, then by tile start (µs)."""


def parse_tiles(fields: Mapping[bytes, bytes], groups: Sequence[TileGroup]) -> Tiles:
    """The tiles of one entity from its hash (``HGETALL``)."""
    types = {g.name: g.column_type for g in groups}
    tiles: Tiles = {}
    for raw_name, raw in fields.items():
        group, start_text, stat = raw_name.decode().split("|")
        column_type = types.get(group)
        if column_type is None:
            continue  # a group the view no longer has
        stats = tiles.setdefault(group, {}).setdefault(int(start_text) * MINUTE_US, TileStats())
        if stat == "n":
            stats.n = int(raw)
        elif stat == "s":
            stats.s = float(raw)
        elif stat in ("lo", "hi"):
            number: float | int = int(raw) if column_type is ValueType.INT64 else float(raw)
            setattr(stats, stat, number)
        elif stat == "le":
            stats.last = (int(raw), *(stats.last[1:] if stats.last else (0, None)))
        elif stat == "lc":
            stats.last = (stats.last[0] if stats.last else 0, int(raw), stats.last[2] if stats.last else None)
        elif stat == "lv":
            value = msgpack.unpackb(raw, raw=False, timestamp=3)
            stats.last = (*(stats.last[:2] if stats.last else (0, 0)), value)
    return tiles


def fold_events(
    events: Iterable[tuple[int, int, Any]], group: TileGroup, tiles: dict[int, TileStats] | None = None
) -> dict[int, TileStats]:
    """Tiles of ``group`` from ``(event_us, created_us, value)`` in log order."""
    tiles = {} if tiles is None else tiles
    numeric = group.numeric
    for event_us, created_us, value in events:
        stats = tiles.setdefault(group.tile_start(event_us), TileStats())
        stats.add(value, event_us, created_us, numeric)
    return tiles


def window_value(feature: Feature, tiles: Mapping[int, TileStats], at_us: int, column_type: ValueType) -> Any:
    """The aggregation ``feature`` over the window ending with the tile holding ``at_us``."""
    aggregation = feature.aggregation
    assert aggregation is not None
    tile_us = aggregation.tile_size // _US
    newest = at_us - at_us % tile_us
    oldest = newest - aggregation.window // _US  # exclusive
    inside = [tiles[start] for start in sorted(tiles) if oldest < start <= newest]
    function = aggregation.func
    if function is AggregationFunction.COUNT:
        return sum(t.n for t in inside)
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
class EntityTiles:
    """Every tile group of one entity of one view (a read's or a recomputation's state)."""

    tiles: Tiles = field(default_factory=dict)

    def values(self, view: FeatureView, features: Sequence[str], at_us: int) -> dict[str, Any]:
        """The requested aggregated features at ``at_us``."""
        types = view.stream_source.field_types
        out: dict[str, Any] = {}
        for name in features:
            feature = view.feature(name)
            assert feature.aggregation is not None
            group_tiles = self.tiles.get(group_of(feature), {})
            out[name] = window_value(feature, group_tiles, at_us, types[feature.aggregation.column])
        return out


def split_aggregate_requests(requests: Sequence[ViewRequest]) -> tuple[list[ViewRequest], list[bool]]:
    """``requests`` with the aggregated features of each stream view split off into a request
    of their own (right after the view's latest-value features), and which are aggregates.

    Aggregates are read from tiles and computed at read time, so they are PRESENT with the
    read time as their timestamp, whatever the view's ttl; latest-value features keep the
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


def aggregate_row(
    view: FeatureView, features: Sequence[str], reply: Mapping[bytes, bytes] | Sequence[bytes] | None, at_us: int
) -> tuple[int, int, dict[str, Any]]:
    """A stored-row triple ``(at, at, values)`` of aggregated ``features`` computed at ``at_us``
    from a tile hash's ``HGETALL`` reply (a map, or the flat ``[field, value, ...]`` of RESP2)."""
    if isinstance(reply, Mapping):
        fields: Mapping[bytes, bytes] = reply
    else:
        fields = dict(zip(reply[::2], reply[1::2], strict=True)) if reply else {}
    tiles = EntityTiles(parse_tiles(fields, tile_groups(view)))
    return at_us, at_us, tiles.values(view, features, at_us)
