"""The public point-in-time join: validation, engine choice and output (pandas, Arrow, Parquet)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_platform.errors import ConfigError, SchemaError
from feature_platform.files import atomic_write
from feature_platform.offline.duckdb_engine import (
    DuckDBSettings,
    duckdb_join_batches,
    duckdb_join_table,
)
from feature_platform.offline.duckdb_sql import OpeningConnection
from feature_platform.offline.feature_table import FeatureTable
from feature_platform.offline.prepare import (
    PreparedEntity,
    PreparedTable,
    feature_schema,
    prepare_entity,
    prepare_tables,
)
from feature_platform.rows.conversion import to_pandas

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Engine = Literal["duckdb", "spark", "auto"]
Output = Literal["pandas", "arrow"]

DEFAULT_BROADCAST_THRESHOLD_ROWS = 2_000_000
DEFAULT_AUTO_SPARK_MIN_ROWS = 100_000_000


def point_in_time_join(
    entity_df: pd.DataFrame | pa.Table | str | os.PathLike[str],
    feature_tables: Sequence[FeatureTable],
    *,
    engine: Engine = "duckdb",
    inclusive: bool = False,
    full_feature_names: bool = False,
    entity_timestamp_column: str = "event_timestamp",
    output: Output = "pandas",
    to_parquet: str | os.PathLike[str] | None = None,
    spark: SparkSession | None = None,
    broadcast_threshold_rows: int = DEFAULT_BROADCAST_THRESHOLD_ROWS,
    auto_spark_min_rows: int = DEFAULT_AUTO_SPARK_MIN_ROWS,
    duckdb_threads: int | None = None,
    duckdb_memory_limit: str | None = None,
    duckdb_temp_directory: str | os.PathLike[str] | None = None,
) -> pd.DataFrame | pa.Table | Path:
    """Features of each entity row as they were known strictly before its timestamp.

    The semantics are SEMANTICS.md's: for each entity row and table, the feature row with
    equal join keys, ``event_timestamp < t`` (``<=`` with ``inclusive=True``) and, with a
    ttl, ``t - event_timestamp <= ttl``, and of those the largest (event_timestamp,
    created_timestamp); its features, nulls included, or nulls when there is none. Every
    entity row appears once, in the caller's order, with its columns unchanged.
    Timestamps are compared as UTC microseconds; naive ones are read as UTC. Nothing depends
    on the wall clock.

    ``entity_df`` is a pandas DataFrame, a pyarrow Table or a Parquet path/glob.
    ``full_feature_names=True`` names outputs ``"<table>__<feature>"``; without it, a name
    that two tables (or an entity column) share raises FeatureNameCollisionError.

    Output: ``output="pandas"`` (default; int64 and bool features become the nullable
    ``Int64`` / ``boolean`` dtypes so nulls stay nulls), ``output="arrow"`` (a pyarrow
    Table, no pandas involved), or ``to_parquet=path``, which streams the result into one
    Parquet file (written to a temp file and renamed into place) and returns its path; on
    Spark an executor writes that file (the result never goes through the driver).

    Engines: ``"duckdb"`` (ASOF join, in process), ``"spark"`` (needs ``spark``, a
    SparkSession, e.g. ``PySparkResource.spark_session``; runs on whatever ``spark.master``
    that session points at: ``local[*]`` or a cluster), or ``"auto"``: Spark when a session
    is given (or active) and the feature tables hold at least ``auto_spark_min_rows`` rows,
    else DuckDB. On Spark, tables with at most ``broadcast_threshold_rows`` rows in the
    window are broadcast; larger ones take a sort-merge by join key. Both engines return
    identical results. ``duckdb_threads``, ``duckdb_memory_limit`` (e.g. ``"4GB"``) and
    ``duckdb_temp_directory`` (where DuckDB spills above the limit) bound DuckDB; with
    ``to_parquet`` the result streams from DuckDB into the file, so a training set larger
    than memory can be written with a memory limit.

    Raises MissingColumnError (a key, timestamp or feature column is absent),
    TimestampError (a timestamp column is not a timestamp, or an entity time is null),
    SchemaError (a join key's types cannot be compared), FeatureNameCollisionError, and
    ConfigError for bad options.
    """
    if engine not in ("duckdb", "spark", "auto"):
        raise ConfigError(f"engine must be 'duckdb', 'spark' or 'auto', got {engine!r}")
    if output not in ("pandas", "arrow"):
        raise ConfigError(f"output must be 'pandas' or 'arrow', got {output!r}")
    tables = list(feature_tables)
    if not tables:
        raise SchemaError("point_in_time_join needs at least one FeatureTable")
    for table in tables:
        if not isinstance(table, FeatureTable):
            raise SchemaError(f"feature_tables must hold FeatureTable objects, got {table!r}")
    # Opening DuckDB takes about as long as checking a small join's inputs: do both at once.
    duckdb_first = engine == "duckdb" or (engine == "auto" and spark is None)
    opening = OpeningConnection() if duckdb_first else None
    try:
        entity = prepare_entity(entity_df, tables, entity_timestamp_column)
        entity, prepared = prepare_tables(entity, tables, full_feature_names)
        chosen = _choose_engine(engine, spark, prepared, auto_spark_min_rows)
        duckdb_settings = DuckDBSettings(duckdb_threads, duckdb_memory_limit, duckdb_temp_directory)
        schema = feature_schema(prepared)
        if to_parquet is not None:
            path = Path(to_parquet)
            if entity.num_rows == 0:
                return _write_parquet(path, entity, iter(()), schema)
            if chosen == "spark":
                from feature_platform.offline.spark_engine import spark_write_parquet

                return spark_write_parquet(
                    spark,
                    entity,
                    _entity_arrow(entity),
                    prepared,
                    inclusive,
                    broadcast_threshold_rows,
                    path,
                )
            batches = duckdb_join_batches(
                entity, prepared, inclusive, duckdb_settings, opening
            )
            return _write_parquet(path, entity, batches, schema)
        if entity.num_rows == 0:
            features = schema.empty_table()
        elif chosen == "spark":
            from feature_platform.offline.spark_engine import spark_join

            features = spark_join(spark, entity, prepared, inclusive, broadcast_threshold_rows)
        else:
            features = duckdb_join_table(entity, prepared, inclusive, duckdb_settings, opening)
        if output == "arrow":
            return _append(_entity_arrow(entity), features)
        return _to_pandas(entity, features)
    finally:
        if opening is not None:
            opening.close()


def _choose_engine(
    engine: Engine, spark: SparkSession | None, tables: list[PreparedTable], min_rows: int
) -> Literal["duckdb", "spark"]:
    if engine == "duckdb":
        return "duckdb"
    if engine == "spark":
        if spark is None:
            raise ConfigError(
                "engine='spark' needs spark=<SparkSession> (e.g. PySparkResource.spark_session)"
            )
        return "spark"
    if spark is None:
        return "duckdb"
    return "spark" if sum(t.estimated_rows() for t in tables) >= min_rows else "duckdb"


def _entity_arrow(entity: PreparedEntity) -> pa.Table:
    original = entity.original
    if isinstance(original, pa.Table):
        return original
    try:
        return pa.Table.from_pandas(original, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(
            f"entity_df cannot be converted to Arrow for output='arrow'/to_parquet: {exc}"
        ) from None


def _append(base: pa.Table, features: pa.Table) -> pa.Table:
    for field in features.schema:
        base = base.append_column(field, features.column(field.name))
    return base


def _to_pandas(entity: PreparedEntity, features: pa.Table) -> pd.DataFrame:
    original = entity.original
    frame = (
        original.copy(deep=False) if isinstance(original, pd.DataFrame) else original.to_pandas()
    )
    values = to_pandas(features)
    for name in features.column_names:
        frame[name] = values[name].set_axis(frame.index)
    return frame


def _write_parquet(
    path: Path, entity: PreparedEntity, batches: Iterator[pa.RecordBatch], schema: pa.Schema
) -> Path:
    """Stream entity rows plus feature batches into ``path`` (temp file, then rename)."""
    base = _entity_arrow(entity)
    full = pa.schema([*base.schema, *schema])
    path.parent.mkdir(parents=True, exist_ok=True)
    offset = 0
    with atomic_write(path) as tmp, pq.ParquetWriter(tmp, full) as writer:
        for batch in batches:
            part = _append(
                base.slice(offset, batch.num_rows), pa.Table.from_batches([batch], schema)
            )
            writer.write_table(part)
            offset += batch.num_rows
        if offset == 0:
            writer.write_table(full.empty_table())
    return path
