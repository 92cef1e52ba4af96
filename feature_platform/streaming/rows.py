"""Checking pushed rows against their StreamSource and turning them into log entries."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

import pyarrow as pa

from feature_platform.errors import SchemaError
from feature_platform.online.keys import check_key_value, encode_entity
from feature_platform.rows import as_arrow
from feature_platform.rows.timestamps import as_utc, epoch_micros, utc_micros_column
from feature_platform.specs import StreamSource, ValueType
from feature_platform.streaming.errors import InvalidRowsError
from feature_platform.streaming.log import encode_entry, partition_of

_INT64 = (-(2**63), 2**63 - 1)

def as_row_dicts(rows: object, source: StreamSource) -> list[Mapping[str, object]]:
    """``rows`` (dicts, a pandas DataFrame or an Arrow table) as a list of dicts; a frame's
    timestamp columns go through the row contract first (UTC, no sub-microsecond part)."""
    if isinstance(rows, pa.Table) or type(rows).__name__ == "DataFrame":
        table = as_arrow(rows, f"the rows pushed to {source.name!r}")
        timestamps = [source.event_timestamp_column] + [n for n, t in source.field_types.items() if t is ValueType.TIMESTAMP]
        for name in timestamps:
            if name in table.column_names and pa.types.is_timestamp(table.schema.field(name).type):
                column = utc_micros_column(table.column(name), name, f"the rows pushed to {source.name!r}")
                table = table.set_column(table.schema.get_field_index(name), name, column)
        return table.to_pylist()
    if isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
        return list(rows)
    raise InvalidRowsError(0, None, f"rows must be a list of dicts, a DataFrame or an Arrow table, got {type(rows).__name__}")


def timestamp_micros(value: object) -> int:
    """A datetime (naive = UTC) or an ISO 8601 string as microseconds since the epoch."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp (datetime or ISO 8601 string), got {value!r} ({type(value).__name__})")
    return epoch_micros(as_utc(value, "timestamp"))


def check_value(value: object, dtype: ValueType) -> object:
    """``value`` in its log form for a field of ``dtype`` (None stays None); ValueError if not."""
    if value is None:
        return None
    if dtype is ValueType.INT64:
        if isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]:
            return int(value)
    elif dtype is ValueType.FLOAT64:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isnan(number):
                return None
            return number
    elif dtype is ValueType.STRING:
        if isinstance(value, str):
            return value
    elif dtype is ValueType.BOOL:
        if isinstance(value, bool):
            return value
    elif dtype is ValueType.TIMESTAMP:
        return timestamp_micros(value)
    raise ValueError(f"expected {dtype.value}, got {value!r} ({type(value).__name__})")


def encode_rows(source: StreamSource, rows: Sequence[Mapping[str, object]], created_us: int) -> list[tuple[int, bytes]]:
    """``(partition, log entry)`` per row, in order; InvalidRowsError naming the first bad
    row (0-based) and column. Every row is checked before anything is returned."""
    keys = list(source.key_types.items())
    fields = list(source.field_types.items())
    ts_column = source.event_timestamp_column
    known = {*source.key_types, *source.field_types, ts_column}
    out: list[tuple[int, bytes]] = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidRowsError(index, None, f"a row must be an object of columns, got {type(row).__name__}")
        unknown = [c for c in row if c not in known]
        if unknown:
            raise InvalidRowsError(
                index, str(unknown[0]), f"not a column of stream source {source.name!r}; its columns: {', '.join(known)}"
            )
        key_values = []
        for name, dtype in keys:
            if name not in row or row[name] is None:
                raise InvalidRowsError(index, name, "the join key is missing; every row needs it")
            try:
                key_values.append(check_key_value(row[name], name, dtype))
            except SchemaError:
                raise InvalidRowsError(index, name, f"expected {dtype.value}, got {row[name]!r}") from None
        if row.get(ts_column) is None:
            raise InvalidRowsError(index, ts_column, "the event timestamp is missing; every row needs it")
        try:
            event_us = timestamp_micros(row[ts_column])
        except (ValueError, TypeError) as exc:
            raise InvalidRowsError(index, ts_column, str(exc)) from None
        values = []
        for name, dtype in fields:
            if name not in row:
                raise InvalidRowsError(index, name, "the field is missing (send null for an unknown value)")
            try:
                values.append(check_value(row[name], dtype))
            except (ValueError, TypeError) as exc:
                raise InvalidRowsError(index, name, str(exc)) from None
        entity = encode_entity(key_values)
        out.append((partition_of(entity, source.partitions), encode_entry(entity, event_us, created_us, values)))
    return out
