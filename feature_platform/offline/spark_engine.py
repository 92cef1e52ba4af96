"""The point-in-time join on Spark, for feature tables beyond one machine.

Large tables take a sort-merge: entity rows and feature rows are unioned, partitioned by
join key and sorted by (time, kind, created timestamp); each entity row takes the last
feature row before it in that order (``last(..., ignorenulls)`` over the running window),
so no entity row is ever paired with more than that one row. At equal times an entity row
sorts before feature rows under the strict rule and after them under the inclusive one.
Tables with at most ``broadcast_threshold_rows`` rows are broadcast instead: a join on the
keys and the time range, reduced to the newest (event, created) row per entity row.

Times are compared as int64 microseconds since the epoch, so the session time zone
plays no part. The SparkSession comes from the caller (a dagster-pyspark PySparkResource
in the Dagster layer): ``local[*]`` in tests, or any cluster its ``spark.master`` names,
e.g. ``PySparkResource(spark_config={"spark.master": "spark://host:7077"})``; the Parquet
paths of the offline store must then be readable by the executors (a shared file system
or object store).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from feature_platform.offline.prepare import (
    CREATED,
    EVENT,
    ROW,
    SOURCE_ORDER,
    TIME,
    PreparedEntity,
    PreparedTable,
    feature_schema,
)
from feature_platform.rows.timestamps import from_micros

_LONG_MIN = -(2**63)
_TS = "__fp_ts"
_KIND = "__fp_kind"
_CREATED_ORDER = "__fp_cts_order"
_VALUE = "__fp_value"
_FILE = "__fp_file"
_FILE_ROW = "__fp_file_row"
_KEY_TYPES = {"int64": T.LongType(), "string": T.StringType(), "bool": T.BooleanType()}


def _epoch_micros(column: str, kind: T.DataType) -> Column:
    """Micros since the epoch of a timestamp column (naive values read as UTC)."""
    if isinstance(kind, T.TimestampNTZType):
        return F.expr(f"timestampdiff(MICROSECOND, TIMESTAMP_NTZ'1970-01-01 00:00:00', `{column}`)")
    return F.unix_micros(F.col(f"`{column}`"))


def _source(spark: SparkSession, table: PreparedTable) -> tuple[DataFrame, list[str]]:
    """Keys, EVENT, CREATED, source-order columns and features, window-filtered; and the
    source-order columns (empty when the source is deduplicated)."""
    spec = table.spec
    if table.rows is not None:
        frame = spark.createDataFrame(table.rows)
        return frame, [] if table.deduplicated else [SOURCE_ORDER]
    reader = spark.read if table.deduplicated else spark.read.option("mergeSchema", "true")
    raw = reader.parquet(*table.files)
    kinds = {f.name: f.dataType for f in raw.schema.fields}
    lo, hi = table.window
    event = spec.event_timestamp_column
    if isinstance(kinds[event], T.TimestampType):
        # A filter on the raw column is pushed into the Parquet scan.
        raw = raw.where(F.col(f"`{event}`") <= F.lit(from_micros(hi)))
        if lo is not None:
            raw = raw.where(F.col(f"`{event}`") >= F.lit(from_micros(lo)))
    columns = [
        F.col(f"`{k}`").cast(_KEY_TYPES[str(table.key_types[k])]).alias(k) for k in spec.join_keys
    ]
    columns.append(_epoch_micros(event, kinds[event]).alias(EVENT))
    created = spec.created_timestamp_column
    columns.append(
        _epoch_micros(created, kinds[created]).alias(CREATED)
        if created is not None
        else F.lit(None).cast("long").alias(CREATED)
    )
    order: list[str] = []
    if not table.deduplicated:
        columns += [
            F.col("_metadata.file_path").alias(_FILE),
            F.col("_metadata.row_index").alias(_FILE_ROW),
        ]
        order = [_FILE, _FILE_ROW]
    columns += [F.col(f"`{f}`").alias(f) for f in spec.features]
    frame = raw.select(*columns).where(F.col(EVENT) <= hi)
    if lo is not None:
        frame = frame.where(F.col(EVENT) >= lo)
    for key in spec.join_keys:
        frame = frame.where(F.col(f"`{key}`").isNotNull())
    return frame, order


def _deduplicated(frame: DataFrame, table: PreparedTable, order: list[str]) -> DataFrame:
    """One row per (keys, EVENT, CREATED): the last in source order."""
    if not order:
        return frame
    identity = [F.col(f"`{k}`") for k in table.spec.join_keys] + [F.col(EVENT), F.col(CREATED)]
    newest = Window.partitionBy(*identity).orderBy(*[F.col(c).desc() for c in order])
    return (
        frame.withColumn("__fp_rank", F.row_number().over(newest))
        .where(F.col("__fp_rank") == 1)
        .drop("__fp_rank", *order)
    )


def _outputs(table: PreparedTable, value: Column, time: Column | None) -> list[Column]:
    """The output feature columns of the chosen row ``value``; with ``time``, nulled where
    that row is older than the ttl at ``time``."""
    outputs = []
    for feature, name in zip(table.spec.features, table.output_names):
        field = value.getField(feature)
        if table.ttl_micros is not None and time is not None:
            field = F.when(value.getField(EVENT) >= time - F.lit(table.ttl_micros), field)
        outputs.append(field.alias(name))
    return outputs


def _sort_merge(
    entity: DataFrame, features: DataFrame, table: PreparedTable, inclusive: bool
) -> DataFrame:
    keys = [f"`{k}`" for k in table.spec.join_keys]
    entity_kind, feature_kind = (1, 0) if inclusive else (0, 1)
    value_type = T.StructType(
        [T.StructField(EVENT, T.LongType())] + [features.schema[f] for f in table.spec.features]
    )
    left = entity.select(
        *keys,
        F.col(TIME).alias(_TS),
        F.lit(entity_kind).alias(_KIND),
        F.lit(None).cast("long").alias(_CREATED_ORDER),
        F.col(ROW),
        F.lit(None).cast(value_type).alias(_VALUE),
    )
    right = features.select(
        *keys,
        F.col(EVENT).alias(_TS),
        F.lit(feature_kind).alias(_KIND),
        F.coalesce(F.col(CREATED), F.lit(_LONG_MIN)).alias(_CREATED_ORDER),
        F.lit(None).cast("long").alias(ROW),
        F.struct(F.col(EVENT), *[F.col(f"`{f}`") for f in table.spec.features]).alias(_VALUE),
    )
    running = (
        Window.partitionBy(*keys)
        .orderBy(_TS, _KIND, _CREATED_ORDER)
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    chosen = F.col("__fp_chosen")
    return (
        left.unionByName(right)
        .withColumn("__fp_chosen", F.last(_VALUE, ignorenulls=True).over(running))
        .where(F.col(_KIND) == entity_kind)
        .select(F.col(ROW), *_outputs(table, chosen, F.col(_TS)))
    )


def _broadcast(
    entity: DataFrame, features: DataFrame, table: PreparedTable, inclusive: bool
) -> DataFrame:
    e, f = entity.alias("e"), F.broadcast(features.alias("f"))
    condition = [F.col(f"e.`{k}`") == F.col(f"f.`{k}`") for k in table.spec.join_keys]
    time, event = F.col(f"e.{TIME}"), F.col(f"f.{EVENT}")
    condition.append(event <= time if inclusive else event < time)
    if table.ttl_micros is not None:
        condition.append(event >= time - F.lit(table.ttl_micros))
    value = F.struct(event.alias(EVENT), *[F.col(f"f.`{n}`").alias(n) for n in table.spec.features])
    rank = F.struct(event, F.coalesce(F.col(f"f.{CREATED}"), F.lit(_LONG_MIN)))
    chosen = F.col("__fp_chosen")
    return (
        e.join(f, condition, "inner")
        .groupBy(F.col(f"e.{ROW}").alias(ROW))
        # The ttl is already part of the join condition.
        .agg(F.max_by(value, rank).alias("__fp_chosen"))
        .select(F.col(ROW), *_outputs(table, chosen, None))
    )


def _joined(
    spark: Any,
    entity: PreparedEntity,
    tables: list[PreparedTable],
    inclusive: bool,
    broadcast_threshold_rows: int,
    entity_frame: DataFrame,
) -> DataFrame:
    """ROW of ``entity_frame`` with the output features of every table (unordered)."""
    join_rows = spark.createDataFrame(entity.join_rows)
    result = entity_frame
    for table in tables:
        frame, order = _source(spark, table)
        features = _deduplicated(frame, table, order)
        join = _broadcast if table.estimated_rows() <= broadcast_threshold_rows else _sort_merge
        result = result.join(join(join_rows, features, table, inclusive), ROW, "left")
    return result


def spark_join(
    spark: Any,
    entity: PreparedEntity,
    tables: list[PreparedTable],
    inclusive: bool,
    broadcast_threshold_rows: int,
) -> pa.Table:
    """The joined feature columns (no entity columns), in entity row order, as Arrow."""
    rows = spark.createDataFrame(entity.join_rows.select([ROW]))
    result = _joined(spark, entity, tables, inclusive, broadcast_threshold_rows, rows)
    schema = feature_schema(tables)
    collected = result.orderBy(ROW).select(*[F.col(f"`{n}`") for n in schema.names]).toArrow()
    return pa.Table.from_arrays(
        [collected.column(n).cast(schema.field(n).type) for n in schema.names], schema=schema
    )


def spark_write_parquet(
    spark: Any,
    entity: PreparedEntity,
    entity_columns: pa.Table,
    tables: list[PreparedTable],
    inclusive: bool,
    broadcast_threshold_rows: int,
    path: Path,
) -> Path:
    """Write the entity columns and the joined features, in entity row order, into the one
    Parquet file ``path``, from an executor: the result never passes through the driver.

    Spark writes into a temp folder next to ``path`` (one sorted partition, so one file),
    which is then renamed into place; on a cluster ``path`` must be on storage the
    executors write to and the driver can rename on. Entity columns take Spark's types
    (timestamps become microseconds).
    """
    numbered = entity_columns.append_column(ROW, entity.join_rows.column(ROW))
    result = _joined(
        spark,
        entity,
        tables,
        inclusive,
        broadcast_threshold_rows,
        spark.createDataFrame(numbered),
    )
    names = [*entity_columns.column_names, *feature_schema(tables).names]
    ordered = result.repartition(1).sortWithinPartitions(ROW)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.spark")
    setting = "spark.sql.parquet.outputTimestampType"
    previous = spark.conf.get(setting)
    # INT96 (Spark's default) would lose the UTC marker of timestamp columns.
    spark.conf.set(setting, "TIMESTAMP_MICROS")
    try:
        ordered.select(*[F.col(f"`{n}`") for n in names]).write.parquet(str(staging))
        (part,) = staging.glob("part-*.parquet")
        os.replace(part, path)
    finally:
        spark.conf.set(setting, previous)
        shutil.rmtree(staging, ignore_errors=True)
    return path
