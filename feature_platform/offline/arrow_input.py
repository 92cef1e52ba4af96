"""Turning caller input (pandas, Arrow, Parquet paths) into Arrow, and checking it against a schema."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feature_platform.errors import MissingColumnError, SchemaError
from feature_platform.offline.timestamps import utc_micros_column


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


def is_path_like(data: object) -> bool:
    """Whether ``data`` names Parquet files (a path or a glob) rather than holding rows."""
    return isinstance(data, (str, os.PathLike))


def parquet_files(path: str | os.PathLike[str], where: str) -> list[str]:
    """The Parquet files ``path`` names: one file, every ``*.parquet`` of a directory, or a glob."""
    text = os.fspath(path)
    candidate = Path(text)
    if candidate.is_dir():
        files = sorted(str(p) for p in candidate.rglob("*.parquet") if not p.name.startswith("."))
    elif candidate.is_file():
        files = [str(candidate)]
    else:
        files = sorted(glob.glob(text, recursive=True))
    if not files:
        raise SchemaError(f"{where}: no Parquet file matches {text!r}; check the path or glob")
    return [os.path.abspath(f) for f in files]


def read_parquet_files(files: list[str], where: str) -> pa.Table:
    """All rows of ``files``, in file order then row order."""
    try:
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    except (OSError, pa.ArrowInvalid) as exc:
        raise SchemaError(f"{where}: cannot read Parquet files {files[:3]}...: {exc}") from None


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
