"""The point-in-time join on DuckDB: one ASOF join per feature table, no cross join.

DuckDB's ASOF join matches each entity row to the feature row with the largest value of
one ordering column below the entity's, but breaks ties on that column arbitrarily. The
contract orders candidates by (event_timestamp, created_timestamp), so both are packed into
one HUGEINT ``event_us * 2^64 + created_part`` (created_part in [0, 2^64), 0 for a null
created timestamp, which thus sorts first). The entity side is ``t_us * 2^64`` for the
strict rule (only events before t are below it) and ``t_us * 2^64 + 2^64 - 1`` for the
inclusive one. With the offline store's uniqueness per (keys, event, created) the match is
then unique without any dedup pass; other sources get one (last row in source order wins).
The TTL cannot be part of an ASOF condition, but it does not have to be: the chosen row is
the newest candidate, so if it is older than the TTL every candidate is, and the features
are nulled. Rows older than the window of all entity rows are filtered in the scan.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pyarrow as pa

from feature_platform.errors import OfflineStoreError
from feature_platform.offline.duckdb_sql import connect, quote, timestamp_literal
from feature_platform.offline.prepare import (
    CREATED,
    EVENT,
    ROW,
    SOURCE_ORDER,
    TIME,
    PreparedEntity,
    PreparedTable,
)

_SHIFT = "18446744073709551616::HUGEINT"  # 2^64
# Created micros are offset into (0, 2^63 + 2^62] so a present created timestamp always
# ranks above a null one and below the next event micro.
_CREATED_OFFSET = (1 << 62) + 1
_ORDER = "__fp_order"


def _micros_sql(column: str, aware: bool) -> str:
    """Epoch micros of a timestamp column of any unit (the cast makes nanoseconds micros)."""
    return f"epoch_us({column}::{'TIMESTAMPTZ' if aware else 'TIMESTAMP'})"


def _source_sql(index: int, table: PreparedTable) -> tuple[str, list[str]]:
    """SELECT of the table's keys, EVENT, CREATED and features, window-filtered, and the
    columns that give source order (for the dedup pass; none when deduplicated)."""
    spec = table.spec
    keys = [quote(k) for k in spec.join_keys]
    features = [quote(f) for f in spec.features]
    if table.rows is not None:
        order = [] if table.deduplicated else [SOURCE_ORDER]
        columns = [*keys, EVENT, CREATED, *order, *features]
        return f"SELECT {', '.join(columns)} FROM __fp_source_{index}", order
    event = quote(spec.event_timestamp_column)
    created = (
        _micros_sql(quote(spec.created_timestamp_column), table.created_aware)
        if spec.created_timestamp_column is not None
        else "NULL::BIGINT"
    )
    files = ", ".join("'" + f.replace("'", "''") + "'" for f in table.files)
    order = [] if table.deduplicated else ["filename", "file_row_number"]
    flags = (
        ""
        if table.deduplicated
        else ", filename = true, file_row_number = true, union_by_name = true"
    )
    lo, hi = table.window
    # Compare the raw column with constants so DuckDB pushes the filter into the Parquet scan.
    conditions = [f"{event} <= {timestamp_literal(hi, table.event_aware)}"]
    if lo is not None:
        conditions.append(f"{event} >= {timestamp_literal(lo, table.event_aware)}")
    conditions += [f"{k} IS NOT NULL" for k in keys]
    columns = [
        *keys,
        f"{_micros_sql(event, table.event_aware)} AS {EVENT}",
        f"{created} AS {CREATED}",
        *order,
        *features,
    ]
    return (
        (
            f"SELECT {', '.join(columns)} FROM read_parquet([{files}]{flags}) "
            f"WHERE {' AND '.join(conditions)}"
        ),
        order,
    )


def _ordered_sql(index: int, table: PreparedTable) -> str:
    """The table's rows with the packed ordering key, deduplicated unless the source is."""
    keys = [quote(k) for k in table.spec.join_keys]
    base, order = _source_sql(index, table)
    if order:
        identity = ", ".join([*keys, EVENT, CREATED])
        newest_last = ", ".join(f"{c} DESC" for c in order)
        base = (
            f"SELECT * EXCLUDE ({', '.join(order)}) FROM ({base}) QUALIFY row_number() OVER "
            f"(PARTITION BY {identity} ORDER BY {newest_last}) = 1"
        )
    packed = (
        f"{EVENT}::HUGEINT * {_SHIFT} + "
        f"coalesce({CREATED}::HUGEINT + {_CREATED_OFFSET}, 0::HUGEINT)"
    )
    return f"SELECT *, {packed} AS {_ORDER} FROM ({base})"


def join_query(tables: list[PreparedTable], inclusive: bool) -> str:
    """The SQL of the whole join over ``__fp_entity`` and the tables' sources."""
    entity_offset = f" + ({_SHIFT} - 1)" if inclusive else ""
    ctes = [
        f"e AS (SELECT *, {TIME}::HUGEINT * {_SHIFT}{entity_offset} AS {_ORDER} FROM __fp_entity)"
    ]
    selects = [f"e.{ROW}"]
    joins = []
    for index, table in enumerate(tables):
        alias = f"f{index}"
        ctes.append(f"{alias} AS ({_ordered_sql(index, table)})")
        ttl = table.ttl_micros
        for feature, name in zip(table.spec.features, table.output_names):
            value = f"{alias}.{quote(feature)}"
            if ttl is not None:
                value = f"CASE WHEN {alias}.{EVENT} >= e.{TIME} - {ttl} THEN {value} END"
            selects.append(f"{value} AS {quote(name)}")
        on = [f"e.{quote(k)} = {alias}.{quote(k)}" for k in table.spec.join_keys]
        on.append(f"e.{_ORDER} > {alias}.{_ORDER}")
        joins.append(f"ASOF LEFT JOIN {alias} ON {' AND '.join(on)}")
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(selects)} FROM e {' '.join(joins)} "
        f"ORDER BY e.{ROW}"
    )


def duckdb_join_batches(
    entity: PreparedEntity,
    tables: list[PreparedTable],
    inclusive: bool,
    *,
    batch_rows: int = 1_000_000,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> Iterator[pa.RecordBatch]:
    """The joined feature columns (no entity columns), in entity row order, as Arrow batches."""
    con = connect()
    try:
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            con.execute("SET memory_limit = ?", [memory_limit])
        con.register("__fp_entity", entity.join_rows)
        for index, table in enumerate(tables):
            if table.rows is not None:
                con.register(f"__fp_source_{index}", table.rows)
        output = [name for table in tables for name in table.output_names]
        schema = pa.schema(
            [
                pa.field(name, table.feature_types[feature])
                for table in tables
                for feature, name in zip(table.spec.features, table.output_names)
            ]
        )
        try:
            reader = con.sql(join_query(tables, inclusive)).fetch_record_batch(batch_rows)
            for batch in reader:
                yield pa.RecordBatch.from_arrays(
                    [batch.column(n).cast(schema.field(n).type) for n in output], schema=schema
                )
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            raise OfflineStoreError(f"Cannot read a feature table's Parquet files: {exc}") from None
    finally:
        con.close()
