"""The one schema conversion: caller rows (pandas or Arrow) to a feature view's table.

:func:`view_table` is what every writer calls (offline store, online write, push): the
view's columns, in order, of the view's types, timestamps as timestamp[us, UTC] (see
:mod:`feature_platform.rows.timestamps`), join keys and timestamps never null. Casts
happen only where no value can change. :func:`to_pandas` is the way back, with the same
dtypes for training frames, quality checks and online reads.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feature_platform.errors import MissingColumnError, NullValueError, SchemaError
from feature_platform.rows.timestamps import utc_micros_column
from feature_platform.specs import FeatureView

PANDAS_TYPES: dict[pa.DataType, object] = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
"""Arrow -> pandas dtypes where the default would lose the type of a column with nulls
(int64 -> float64, bool -> object): nullable ``Int64`` and ``boolean`` instead."""


def view_table(data: pa.Table | pd.DataFrame, view: FeatureView, where: str) -> pa.Table:
    """``data`` with exactly ``view``'s columns and types (``view.arrow_schema``).

    Every feature is required. MissingColumnError, SchemaError (a type that cannot be cast
    without loss), TimestampError (not a timestamp, or finer than a microsecond) or
    NullValueError (a null join key or timestamp) name the column and ``where``.
    """
    schema = view.arrow_schema
    table = as_arrow(data, where, _present(data, schema.names))
    rows = conform(table, schema, where)
    for column in [*view.join_keys, "event_timestamp", "created_timestamp"]:
        nulls = rows.column(column).null_count
        if nulls:
            raise NullValueError(
                f"Column {column!r} of {where} has {nulls} null value(s); join keys and "
                "timestamps must be set on every row (drop or fill those rows)"
            )
    return rows


def _present(data: object, names: list[str]) -> list[str] | None:
    """The wanted columns a pandas frame has (so a wide frame is not copied whole)."""
    if isinstance(data, pd.DataFrame):
        return [n for n in names if n in data.columns]
    return None


def as_arrow(data: object, where: str, columns: list[str] | None = None) -> pa.Table:
    """``data`` (a pandas DataFrame or pyarrow Table) as a Table, optionally only ``columns``.

    Asking for the needed columns first keeps a wide pandas frame from being copied whole.
    """
    if isinstance(data, pa.Table):
        return data.select(columns) if columns is not None else data
    if isinstance(data, pd.DataFrame):
        frame = data[columns] if columns is not None else data
        try:
            return pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(f"{where} cannot be read as Arrow: {exc}") from None
    raise SchemaError(
        f"{where} must be a pandas DataFrame or a pyarrow Table, got {type(data).__name__}"
    )


def require_columns(schema: pa.Schema, columns: list[str], where: str, hint: str = "") -> None:
    """Raise MissingColumnError for the first of ``columns`` that ``schema`` lacks."""
    for column in columns:
        if schema.get_field_index(column) < 0:
            known = ", ".join(schema.names)
            raise MissingColumnError(column, where, hint or f"Columns present: {known}")


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    if pa.types.is_null(source) or source == target:
        return True
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(f(source) for f in numeric) and any(f(target) for f in numeric):
        return True
    if pa.types.is_dictionary(source):
        return _castable(source.value_type, target)
    texts = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    return any(f(source) for f in texts) and any(f(target) for f in texts)


def conform(table: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    """``table`` with exactly the columns of ``schema``, in order and of its types.

    Extra columns are dropped. Timestamps become timestamp[us, UTC] (naive read as UTC).
    Other columns are cast only where no value can change (int to int within range, int to
    float when exact, string kinds); anything else is a SchemaError naming the column.
    """
    require_columns(table.schema, schema.names, where)
    arrays = []
    for field in schema:
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type):
            arrays.append(utc_micros_column(column, field.name, where))
            continue
        if column.type == field.type:
            arrays.append(column)
            continue
        if not _castable(column.type, field.type):
            raise SchemaError(
                f"Column {field.name!r} of {where} has type {column.type}, expected {field.type}; "
                "convert the column to that type"
            )
        try:
            arrays.append(pc.cast(column, field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(
                f"Column {field.name!r} of {where} has type {column.type} and its values cannot be "
                f"cast to {field.type} without loss ({exc}); convert the column first"
            ) from None
    return pa.Table.from_arrays(arrays, schema=schema)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """``table`` as pandas with the platform's dtypes (:data:`PANDAS_TYPES`)."""
    return table.to_pandas(types_mapper=PANDAS_TYPES.get)
