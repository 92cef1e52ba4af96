"""Streaming specs: a pushed event source and windowed aggregations over its events.

A :class:`StreamSource` is a typed event stream that clients push to
(``FeatureStore.push`` / ``POST /push``). A :class:`FeatureView` whose ``source`` is a
StreamSource is a *stream view*: its plain :class:`Feature` s are latest-value features (the
field of the newest event by ``(event_timestamp, created_timestamp)``), and its
:class:`Aggregation` s are windowed aggregations kept as time tiles (plus the window edges'
events) and combined at read time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from feature_platform.errors import SpecError
from feature_platform.specs._validation import RESERVED_COLUMNS, check_identifier
from feature_platform.specs.dtypes import ValueType

MAX_STREAM_PARTITIONS = 1024
MIN_WINDOW = timedelta(minutes=1)
MAX_WINDOW = timedelta(days=366)
# Tile sizes a window is cut into, largest first; the default is the largest that cuts the
# window into at least _MIN_TILES_PER_WINDOW whole tiles (1-minute tiles otherwise).
_TILE_SIZES = (timedelta(days=1), timedelta(hours=1), timedelta(minutes=5), timedelta(minutes=1))
_MIN_TILES_PER_WINDOW = 12


class AggregationFunction(str, Enum):
    """What an :class:`Aggregation` computes over the events of its window.

    ``count`` counts the events whose column is not null; ``count_distinct`` counts the
    distinct non-null values of the column (string, int64 or bool columns); ``sum``,
    ``mean``, ``min`` and ``max`` skip nulls (numeric columns only); ``last`` is the column
    of the newest event of the window by ``(event_timestamp, created_timestamp)``, null
    included. An empty window gives count 0, count_distinct 0, sum 0 and null for the others.
    """

    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    LAST = "last"

    def result_type(self, column_type: ValueType) -> ValueType:
        """The value type of this function's result over a column of ``column_type``."""
        if self is AggregationFunction.COUNT or self is AggregationFunction.COUNT_DISTINCT:
            return ValueType.INT64
        if self is AggregationFunction.MEAN:
            return ValueType.FLOAT64
        return column_type


_NUMERIC_ONLY = frozenset(
    {AggregationFunction.SUM, AggregationFunction.MEAN, AggregationFunction.MIN, AggregationFunction.MAX}
)

# Distinct values are compared by their encoding: exact for these types only (floats would
# compare by bit pattern, 0.0 and -0.0 apart).
_DISTINCT_TYPES = frozenset({ValueType.STRING, ValueType.INT64, ValueType.BOOL})


def window_label(window: timedelta) -> str:
    """A short name of a window: ``30s``, ``5m``, ``2h``, ``7d`` (the largest unit that divides it)."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Aggregation:
    """A windowed aggregation feature: ``function`` of ``column`` over the last ``window``.

    ``column`` is a field of the view's StreamSource. ``window`` is a whole number of
    minutes, from 1 minute to 366 days. ``name`` defaults to ``{column}_{function}_{window}``
    (``amount_sum_5m``). Events are kept as tiles of ``tile`` (default: the largest of 1 day,
    1 hour, 5 minutes that cuts the window into at least 12 tiles, else 1 minute), which
    must divide the window. The window read at ``t`` is exact, ``t - window < event_timestamp
    <= t``: the tiles wholly inside it, plus the events of the partial tiles at its two edges
    (kept per event for the longest window plus the source's lateness).
    """

    column: str
    function: AggregationFunction | str
    window: timedelta
    name: str | None = None
    description: str = ""
    tile: timedelta | None = None

    def __post_init__(self) -> None:
        check_identifier(self.column, "Aggregation column")
        try:
            function = AggregationFunction(str(getattr(self.function, "value", self.function)).lower())
        except ValueError:
            allowed = ", ".join(f.value for f in AggregationFunction)
            raise SpecError(
                f"Aggregation of {self.column!r}: unknown function {self.function!r}; use one of {allowed}"
            ) from None
        object.__setattr__(self, "function", function)
        what = f"Aggregation {function.value}({self.column})"
        if not isinstance(self.window, timedelta):
            raise SpecError(f"{what}: window must be a datetime.timedelta, got {self.window!r}")
        if self.window <= timedelta(0):
            raise SpecError(f"{what}: window must be positive, got {self.window}")
        if self.window < MIN_WINDOW or self.window > MAX_WINDOW or self.window % MIN_WINDOW:
            raise SpecError(
                f"{what}: window must be a whole number of minutes from 1 minute to 366 days, "
                f"got {self.window}"
            )
        if self.tile is None:
            object.__setattr__(self, "tile", default_tile(self.window))
        elif (
            not isinstance(self.tile, timedelta)
            or self.tile < MIN_WINDOW
            or self.tile % MIN_WINDOW
            or self.window % self.tile
        ):
            raise SpecError(
                f"{what}: tile must be a whole number of minutes that divides the window "
                f"{self.window}, got {self.tile!r}"
            )
        if self.name is None:
            object.__setattr__(self, "name", f"{self.column}_{function.value}_{window_label(self.window)}")
        check_identifier(self.name, f"{what}: name")
        if self.name in RESERVED_COLUMNS:
            raise SpecError(f"{what}: name {self.name!r} is reserved for the view's timestamps")

    @property
    def func(self) -> AggregationFunction:
        """``function`` as an :class:`AggregationFunction` (it is one after construction)."""
        assert isinstance(self.function, AggregationFunction)
        return self.function

    @property
    def tile_size(self) -> timedelta:
        """The tile length (``tile`` after construction)."""
        assert self.tile is not None
        return self.tile

    def check_column(self, source: StreamSource, view: str) -> ValueType:
        """The result type over ``source``; SpecError naming the field when the column is
        not a field of the source or the function does not apply to its type."""
        column_type = source.field_types.get(self.column)
        what = f"Feature view {view!r}: aggregation {self.name!r}"
        if column_type is None:
            raise SpecError(
                f"{what}: column {self.column!r} is not a field of stream source {source.name!r}; "
                f"its fields: {', '.join(source.field_types)}"
            )
        if self.func in _NUMERIC_ONLY and not column_type.is_numeric:
            raise SpecError(
                f"{what}: {self.func.value} needs a numeric column, but {self.column!r} is "
                f"{column_type.value}; use count or last, or a numeric field"
            )
        if self.func is AggregationFunction.COUNT_DISTINCT and column_type not in _DISTINCT_TYPES:
            raise SpecError(
                f"{what}: count_distinct needs a string, int64 or bool column, but {self.column!r} is "
                f"{column_type.value}; bucket the values into a string or int64 field first"
            )
        return self.func.result_type(column_type)


def default_tile(window: timedelta) -> timedelta:
    """The default tile of ``window`` (see :class:`Aggregation`)."""
    for size in _TILE_SIZES:
        if window % size == timedelta(0) and window // size >= _MIN_TILES_PER_WINDOW:
            return size
    return MIN_WINDOW


@dataclass(frozen=True)
class StreamSource:
    """A stream of typed events that clients push, the source of stream feature views.

    ``join_keys`` maps each key column to its type (as an :class:`Entity` does; a view
    reading the source must have the same keys); ``fields`` the other columns of an event
    with their types (values may be null). ``event_timestamp_column`` names the event time
    of a pushed row; the created timestamp is the moment the platform accepts the push.
    ``allowed_lateness``: how far behind the newest event time of its stream partition an
    event may be and still be applied (older ones go to the dead-letter stream).
    ``partitions``: the number of stream partitions, the unit of parallelism (entities are
    spread over them by a hash of the join keys; changing it re-partitions the log, so stop
    the processors and drain the stream first). ``max_lag``: unprocessed events per
    partition above which ``push`` answers "retry later" (429). ``shed_lag``: when set, the
    processor sheds (samples) events of views that opt into shedding while a partition's
    lag is above it; ``None`` (the default) never sheds.
    """

    name: str
    join_keys: Mapping[str, ValueType]
    fields: Mapping[str, ValueType]
    event_timestamp_column: str = "event_timestamp"
    allowed_lateness: timedelta = timedelta(minutes=5)
    partitions: int = 4
    max_lag: int = 100_000
    shed_lag: int | None = None
    description: str = ""
    _key_types: dict[str, ValueType] = field(init=False, repr=False, compare=False)
    _field_types: dict[str, ValueType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_identifier(self.name, "Stream source name")
        what = f"Stream source {self.name!r}"
        check_identifier(self.event_timestamp_column, f"{what}: event timestamp column")
        if not self.join_keys:
            raise SpecError(f"{what} needs at least one join key")
        keys: dict[str, ValueType] = {}
        for key, dtype in self.join_keys.items():
            check_identifier(key, f"{what}: join key")
            parsed = ValueType.parse(dtype, f"{what}: join key {key!r}")
            if parsed in (ValueType.FLOAT64, ValueType.TIMESTAMP):
                raise SpecError(
                    f"{what}: join key {key!r} has dtype {parsed.value}; join keys must be "
                    "int64, string or bool (exact equality)"
                )
            keys[key] = parsed
        fields: dict[str, ValueType] = {}
        for name, dtype in self.fields.items():
            check_identifier(name, f"{what}: field")
            if name in keys or name == self.event_timestamp_column or name in RESERVED_COLUMNS:
                raise SpecError(
                    f"{what}: field {name!r} is a join key or a timestamp column; list only the "
                    "other columns of an event in fields"
                )
            fields[name] = ValueType.parse(dtype, f"{what}: field {name!r}")
        if self.event_timestamp_column in keys:
            raise SpecError(f"{what}: event timestamp column {self.event_timestamp_column!r} is a join key")
        if not isinstance(self.allowed_lateness, timedelta) or self.allowed_lateness < timedelta(0):
            raise SpecError(
                f"{what}: allowed_lateness must be a timedelta >= 0, got {self.allowed_lateness!r}"
            )
        if isinstance(self.partitions, bool) or not isinstance(self.partitions, int) or not (
            1 <= self.partitions <= MAX_STREAM_PARTITIONS
        ):
            raise SpecError(
                f"{what}: partitions must be an int from 1 to {MAX_STREAM_PARTITIONS}, got {self.partitions!r}"
            )
        if isinstance(self.max_lag, bool) or not isinstance(self.max_lag, int) or self.max_lag < 1:
            raise SpecError(f"{what}: max_lag must be an int >= 1 (events), got {self.max_lag!r}")
        if self.shed_lag is not None and (
            isinstance(self.shed_lag, bool) or not isinstance(self.shed_lag, int) or self.shed_lag < 1
        ):
            raise SpecError(f"{what}: shed_lag must be None or an int >= 1 (events), got {self.shed_lag!r}")
        object.__setattr__(self, "_key_types", keys)
        object.__setattr__(self, "_field_types", fields)
        object.__setattr__(self, "join_keys", dict(keys))
        object.__setattr__(self, "fields", dict(fields))

    @property
    def key_types(self) -> dict[str, ValueType]:
        """Every join key with its type, in order."""
        return dict(self._key_types)

    @property
    def field_types(self) -> dict[str, ValueType]:
        """Every non-key, non-timestamp field with its type, in order."""
        return dict(self._field_types)

    @property
    def key_names(self) -> list[str]:
        """The join key columns, in order."""
        return list(self._key_types)
