"""Validating and normalizing the inputs of the point-in-time join, shared by both engines.

Both engines receive the same prepared inputs: entity rows numbered in caller order with
event times as int64 microseconds since the epoch (UTC), and per feature table either
in-memory rows in the same form or the list of Parquet files to scan, already pruned to
the event-time window the entity rows can need.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feature_platform.errors import (
    FeatureNameCollisionError,
    MissingColumnError,
    SchemaError,
    TimestampError,
)
from feature_platform.offline.arrow_input import (
    is_path_like,
    parquet_files,
    read_parquet_files,
    read_parquet_footer,
    timestamp_range_micros,
)
from feature_platform.offline.feature_table import FeatureTable
from feature_platform.offline.partitioned_source import PartitionedParquetSource
from feature_platform.rows.conversion import as_arrow, require_columns
from feature_platform.rows.timestamps import UTC_MICROS, from_micros, utc_micros_column

ROW = "__fp_row"
TIME = "__fp_t"
EVENT = "__fp_ets"
CREATED = "__fp_cts"
SOURCE_ORDER = "__fp_src"
ENTITY_WHERE = "entity_df"


@dataclass(frozen=True)
class PreparedEntity:
    """The caller's entity rows and their join columns.

    ``original`` is the caller's frame (a Parquet input read into Arrow); ``join_rows``
    holds ROW (0..n-1, caller order), every join key (normalized type) and TIME.
    """

    original: pd.DataFrame | pa.Table
    join_rows: pa.Table
    min_time: int | None
    max_time: int | None

    @property
    def num_rows(self) -> int:
        """How many entity rows there are."""
        return self.join_rows.num_rows


@dataclass(frozen=True)
class PreparedTable:
    """One feature table ready for an engine.

    Exactly one of ``rows`` (in-memory: join keys, EVENT, CREATED, [SOURCE_ORDER], features,
    already filtered to the window) and ``files`` (Parquet files to scan, already pruned)
    is used. ``window`` is the inclusive [lo, hi] range of event micros that can matter.
    ``files_differ``: the files' schemas are not all the same, so columns are matched by name.
    ``files_in_window``: those of ``files`` known to hold only event times in ``window``.
    """

    spec: FeatureTable
    output_names: tuple[str, ...]
    key_types: dict[str, pa.DataType]
    feature_types: dict[str, pa.DataType]
    rows: pa.Table | None
    files: tuple[str, ...]
    event_aware: bool
    created_aware: bool
    window: tuple[int | None, int]
    ttl_micros: int | None
    files_differ: bool = False
    files_in_window: frozenset[str] = frozenset()

    def estimated_rows(self) -> int:
        """Rows the table contributes: exact in memory, from Parquet footers for files."""
        if self.rows is not None:
            return self.rows.num_rows
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    @property
    def deduplicated(self) -> bool:
        """Whether the source promises one row per (keys, event ts, created ts)."""
        return self.spec.deduplicated


def feature_schema(tables: list[PreparedTable]) -> pa.Schema:
    """The output feature columns of ``tables``, in order, with their output types (the same
    for every engine)."""
    return pa.schema(
        [
            pa.field(name, table.feature_types[feature])
            for table in tables
            for feature, name in zip(table.spec.features, table.output_names)
        ]
    )


def micros(delta: timedelta) -> int:
    """``delta`` in whole microseconds (exact)."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _key_family(kind: pa.DataType) -> str | None:
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "string"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_dictionary(kind):
        return _key_family(kind.value_type)
    return None


_CANONICAL = {"integer": pa.int64(), "string": pa.string(), "boolean": pa.bool_()}


def output_type(kind: pa.DataType) -> pa.DataType:
    """The type a feature column has in the join's output (same for both engines)."""
    if pa.types.is_timestamp(kind):
        return UTC_MICROS
    if pa.types.is_dictionary(kind):
        return output_type(kind.value_type)
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    return kind


def _entity_table(entity_df: object, needed: list[str]) -> tuple[pd.DataFrame | pa.Table, pa.Table]:
    """The caller's entity frame and an Arrow table of its ``needed`` columns."""
    if is_path_like(entity_df):
        files = parquet_files(entity_df, ENTITY_WHERE)  # type: ignore[arg-type]
        original: pd.DataFrame | pa.Table = read_parquet_files(files, ENTITY_WHERE)
    elif isinstance(entity_df, (pd.DataFrame, pa.Table)):
        original = entity_df
    else:
        raise SchemaError(
            "entity_df must be a pandas DataFrame, a pyarrow Table or a Parquet path/glob, "
            f"got {type(entity_df).__name__}"
        )
    present = (
        list(original.columns) if isinstance(original, pd.DataFrame) else original.column_names
    )
    for column in needed:
        if column not in present:
            raise MissingColumnError(
                column, ENTITY_WHERE, "Add it (join keys and the entity timestamp are required)"
            )
    return original, as_arrow(original, ENTITY_WHERE, needed)


@dataclass(frozen=True)
class _Source:
    """What ``_source_schema`` learned of a source: its schema, its ``needed`` columns if it
    is in memory, its files if it is a path or glob, whether their schemas differ, and each
    file's range of event times (micros) if its statistics give one."""

    schema: pa.Schema
    rows: pa.Table | None = None
    files: tuple[str, ...] = ()
    files_differ: bool = False
    event_ranges: tuple[tuple[int, int] | None, ...] = ()


def _source_schema(table: FeatureTable, needed: list[str]) -> _Source:
    """The source's schema and, for in-memory sources, its ``needed`` columns."""
    where = f"feature table {table.name!r}"
    source = table.source
    if isinstance(source, PartitionedParquetSource):
        require_columns(source.schema, needed, where)
        return _Source(source.schema)
    if is_path_like(source):
        files = parquet_files(source, where)
        try:
            footers = [read_parquet_footer(f) for f in files]
            schemas = [footer.schema.to_arrow_schema() for footer in footers]
            # Files may differ slightly (an empty file's all-null column has no type).
            schema = pa.unify_schemas(schemas, promote_options="permissive")
        except (OSError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(f"{where}: cannot read one schema from {files[:3]}: {exc}") from None
        require_columns(schema, needed, where)
        differ = any(not s.equals(schemas[0]) for s in schemas[1:])
        event = table.event_timestamp_column
        ranges = tuple(timestamp_range_micros(footer, event) for footer in footers)
        return _Source(schema, files=tuple(files), files_differ=differ, event_ranges=ranges)
    if isinstance(source, pd.DataFrame):
        missing = [c for c in needed if c not in source.columns]
        if missing:
            raise MissingColumnError(missing[0], where, f"Columns present: {list(source.columns)}")
    rows = as_arrow(source, where, needed) if isinstance(source, (pd.DataFrame, pa.Table)) else None
    if rows is None:
        raise SchemaError(
            f"{where}: source must be a pandas DataFrame, a pyarrow Table, a Parquet path/glob or "
            f"an offline store source, got {type(source).__name__}"
        )
    require_columns(rows.schema, needed, where)
    return _Source(rows.schema, rows=rows)


def _check_timestamp_type(schema: pa.Schema, column: str, where: str) -> bool:
    """Raise TimestampError unless ``column`` is a timestamp; return whether it is tz-aware."""
    kind = schema.field(column).type
    if not pa.types.is_timestamp(kind):
        raise TimestampError(
            f"Column {column!r} of {where} must be a timestamp, got {kind}; convert it with "
            "pandas.to_datetime(..., utc=True) or pyarrow.compute.cast before the call"
        )
    return kind.tz is not None


def prepare_entity(
    entity_df: object, tables: list[FeatureTable], timestamp_column: str
) -> PreparedEntity:
    """Check and normalize the entity rows for ``tables``."""
    keys: list[str] = []
    for table in tables:
        keys += [k for k in table.join_keys if k not in keys]
    if timestamp_column in keys:
        raise SchemaError(
            f"entity_timestamp_column {timestamp_column!r} is also a join key; name another column"
        )
    original, needed = _entity_table(entity_df, [*keys, timestamp_column])
    times = utc_micros_column(needed.column(timestamp_column), timestamp_column, ENTITY_WHERE)
    if times.null_count:
        raise TimestampError(
            f"Column {timestamp_column!r} of {ENTITY_WHERE} has {times.null_count} null value(s); "
            "every entity row needs the time to look features up at"
        )
    time_micros = times.cast(pa.int64())
    bounds = pc.min_max(time_micros).as_py() if len(time_micros) else {"min": None, "max": None}
    columns = {ROW: pa.array(np.arange(needed.num_rows, dtype=np.int64))}
    for key in keys:
        columns[key] = needed.column(key)
    columns[TIME] = time_micros
    return PreparedEntity(original, pa.table(columns), bounds["min"], bounds["max"])


def _normalize_keys(
    entity: PreparedEntity, table: FeatureTable, schema: pa.Schema
) -> tuple[PreparedEntity, dict[str, pa.DataType]]:
    """Check each key's types are comparable; cast the entity's keys to the common type."""
    join_rows = entity.join_rows
    types = {}
    for key in table.join_keys:
        entity_type = join_rows.column(key).type
        feature_type = schema.field(key).type
        feature_family = _key_family(feature_type)
        if pa.types.is_null(feature_type):
            # An all-null (e.g. empty) column has no type of its own; it matches nothing.
            feature_family = _key_family(entity_type) or "string"
        if feature_family is None:
            raise SchemaError(
                f"Join key {key!r} of feature table {table.name!r} has type {feature_type}; join "
                "keys must be integers, strings or booleans"
            )
        entity_family = _key_family(entity_type)
        if pa.types.is_null(entity_type):
            entity_family = feature_family
        if (
            entity_family is None
            and pa.types.is_floating(entity_type)
            and feature_family == "integer"
        ):
            # pandas turns an integer column with missing values into float64.
            entity_family = "integer"
        if entity_family != feature_family:
            raise SchemaError(
                f"Join key {key!r}: entity_df has type {entity_type} but feature table "
                f"{table.name!r} has {feature_type}; they cannot be compared, so convert the "
                f"entity_df column to {feature_family} values"
            )
        canonical = _CANONICAL[feature_family]
        try:
            cast = pc.cast(join_rows.column(key), canonical, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise SchemaError(
                f"Join key {key!r} of entity_df has values that are not {feature_family} "
                f"(type {entity_type}); convert the column to {feature_family} values"
            ) from None
        join_rows = join_rows.set_column(join_rows.schema.get_field_index(key), key, cast)
        types[key] = canonical
    return PreparedEntity(entity.original, join_rows, entity.min_time, entity.max_time), types


def _in_memory_rows(
    table: FeatureTable,
    rows: pa.Table,
    key_types: dict[str, pa.DataType],
    window: tuple[int | None, int],
) -> pa.Table:
    where = f"feature table {table.name!r}"
    event = utc_micros_column(
        rows.column(table.event_timestamp_column), table.event_timestamp_column, where
    ).cast(pa.int64())
    if table.created_timestamp_column is None:
        created = pa.nulls(rows.num_rows, pa.int64())
    else:
        created = utc_micros_column(
            rows.column(table.created_timestamp_column), table.created_timestamp_column, where
        ).cast(pa.int64())
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        k: pc.cast(rows.column(k), key_types[k], safe=True) for k in table.join_keys
    }
    columns[EVENT] = event
    columns[CREATED] = created
    if not table.deduplicated:
        columns[SOURCE_ORDER] = pa.array(np.arange(rows.num_rows, dtype=np.int64))
    for feature in table.features:
        columns[feature] = rows.column(feature).cast(output_type(rows.column(feature).type))
    out = pa.table(columns)
    lo, hi = window
    keep = pc.less_equal(out.column(EVENT), hi)
    if lo is not None:
        keep = pc.and_(keep, pc.greater_equal(out.column(EVENT), lo))
    for key in table.join_keys:
        keep = pc.and_(keep, pc.is_valid(out.column(key)))
    return out.filter(pc.fill_null(keep, False))


def output_names(
    tables: list[FeatureTable], full_feature_names: bool, entity_columns: list[str]
) -> list[tuple[str, ...]]:
    """Each table's output column names; raises FeatureNameCollisionError on a clash."""
    owner: dict[str, str] = {}
    names = []
    for table in tables:
        mine = tuple(table.output_name(f, full_feature_names) for f in table.features)
        for name in mine:
            if name in owner:
                raise FeatureNameCollisionError(
                    f"Output column {name!r} would come from both feature table {owner[name]!r} "
                    f"and {table.name!r}; pass full_feature_names=True to get "
                    "'<table>__<feature>' names, or request the feature from one table only"
                )
            if name in entity_columns:
                raise FeatureNameCollisionError(
                    f"Output column {name!r} of feature table {table.name!r} has the name of an "
                    "entity_df column; rename that column or pass full_feature_names=True"
                )
            if name.startswith("__fp_"):
                raise FeatureNameCollisionError(
                    f"Output column {name!r}: names starting with '__fp_' are reserved by the join"
                )
            owner[name] = table.name
        names.append(mine)
    return names


def prepare_tables(
    entity: PreparedEntity, tables: list[FeatureTable], full_feature_names: bool
) -> tuple[PreparedEntity, list[PreparedTable]]:
    """Check each feature table against the entity rows and prune it to the needed window."""
    original = entity.original
    entity_columns = (
        list(original.columns) if isinstance(original, pd.DataFrame) else original.column_names
    )
    names = output_names(tables, full_feature_names, [str(c) for c in entity_columns])
    prepared = []
    for table, outputs in zip(tables, names):
        where = f"feature table {table.name!r}"
        stamps = [table.event_timestamp_column]
        if table.created_timestamp_column is not None:
            stamps.append(table.created_timestamp_column)
        needed = list(dict.fromkeys([*table.join_keys, *stamps, *table.features]))
        source = _source_schema(table, needed)
        schema, rows, files = source.schema, source.rows, list(source.files)
        event_aware = _check_timestamp_type(schema, table.event_timestamp_column, where)
        created_aware = (
            _check_timestamp_type(schema, table.created_timestamp_column, where)
            if table.created_timestamp_column is not None
            else True
        )
        entity, key_types = _normalize_keys(entity, table, schema)
        ttl = micros(table.ttl) if table.ttl is not None else None
        hi = entity.max_time if entity.max_time is not None else 0
        lo = None if ttl is None or entity.min_time is None else entity.min_time - ttl
        window = (lo, hi)
        in_window = frozenset(
            path
            for path, span in zip(files, source.event_ranges)
            if span is not None and (lo is None or span[0] >= lo) and span[1] <= hi
        )
        if isinstance(table.source, PartitionedParquetSource):
            start = from_micros(lo) if lo is not None else None
            window_files = table.source.window_files(start, from_micros(hi))
            files = [str(path) for path, _ in window_files]
            in_window = frozenset(str(path) for path, inside in window_files if inside)
        feature_types = {f: output_type(schema.field(f).type) for f in table.features}
        if rows is None and not files:
            # No partition overlaps the window: an empty table of the right types.
            rows = pa.table(
                {
                    **{k: pa.array([], key_types[k]) for k in table.join_keys},
                    table.event_timestamp_column: pa.array([], UTC_MICROS),
                    **(
                        {table.created_timestamp_column: pa.array([], UTC_MICROS)}
                        if table.created_timestamp_column is not None
                        else {}
                    ),
                    **{f: pa.array([], feature_types[f]) for f in table.features},
                }
            )
        prepared.append(
            PreparedTable(
                spec=table,
                output_names=outputs,
                key_types=key_types,
                feature_types=feature_types,
                rows=_in_memory_rows(table, rows, key_types, window) if rows is not None else None,
                files=tuple(os.fspath(f) for f in files),
                event_aware=event_aware,
                created_aware=created_aware,
                window=window,
                ttl_micros=ttl,
                files_differ=source.files_differ,
                files_in_window=in_window,
            )
        )
    return entity, prepared
