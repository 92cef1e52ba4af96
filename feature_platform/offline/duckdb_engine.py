"""The point-in-time join on DuckDB: one ASOF join per feature table, one pass, no dedup.

DuckDB's ASOF join matches each entity row to the feature row with the largest value of
one ordering expression below the entity's, but breaks ties on that expression
arbitrarily. The contract orders candidates by (event_timestamp, created_timestamp), and
a raw source may hold exact duplicates of (keys, event, created) of which the last in
source order wins. So the ordering expression is a STRUCT compared field by field:
``(event_us, created_us)``, plus the source position (file index and row number, or the
row index of an in-memory table) for sources that are not known to be deduplicated. The
last duplicate in source order is then the greatest candidate, and the join stays one
pass with no window function. A null created timestamp becomes ``-2^63 + 1``, below any
real one. The entity side is ``(t, -2^63, -2^63)`` for the strict rule (a row with event
time t is never below it) and ``(t, 2^63 - 1, 2^63 - 1)`` for the inclusive one.
The TTL cannot be part of an ASOF condition, but it does not have to be: the chosen row is
the newest candidate, so if it is older than the TTL every candidate is, and the features
are nulled. Rows outside the event-time window of all entity rows are filtered in the
scan of files that may hold any (the filter is not free, and files known to lie inside
the window skip it). A row with a null join key needs no filter: the ASOF join's equality
never matches a null.

In memory, each table is joined by its own query (the entity rows and that table's
features only, so no join carries another table's features through its sort), sorted by
entity row in DuckDB (in parallel; an Arrow ``take`` by row number is one thread of cache
misses and cost more from 1M entity rows). Written to Parquet, one query joins every table
and sorts by entity row, so DuckDB streams it (spilling to its temp directory if needed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import duckdb
import pyarrow as pa

from feature_platform.errors import ConfigError, OfflineStoreError
from feature_platform.offline.duckdb_sql import (
    OpeningConnection,
    connect,
    quote,
    timestamp_literal,
)
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

_MIN = "(-9223372036854775807 - 1)::BIGINT"
_MAX = "9223372036854775807::BIGINT"
_NULL_CREATED = "(-9223372036854775807)::BIGINT"
# A Parquet source's position: file index in the high bits, row number in the low 40
# (a trillion rows per file), so one BIGINT orders files first, then rows.
_ROW_BITS = 1 << 40
_ORDER = "__fp_order"
_POSITION = "__fp_pos"


@dataclass(frozen=True)
class DuckDBSettings:
    """How the DuckDB engine may use the machine.

    ``threads``: worker threads (None: DuckDB's default, one per core). ``memory_limit``:
    DuckDB's buffer limit, e.g. ``"4GB"`` (None: DuckDB's default, 80% of RAM); above it,
    joins and sorts spill to ``temp_directory`` (None: DuckDB's default, ``.tmp`` under the
    working directory).
    """

    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: str | os.PathLike[str] | None = None


def _micros_sql(column: str, aware: bool) -> str:
    """Epoch micros of a timestamp column of any unit (the cast makes nanoseconds micros)."""
    return f"epoch_us({column}::{'TIMESTAMPTZ' if aware else 'TIMESTAMP'})"


def _source_sql(index: int, table: PreparedTable) -> str:
    """SELECT of the table's keys, EVENT, CREATED, [position] and features, window-filtered
    (the position only when the source is not known to be deduplicated)."""
    spec = table.spec
    keys = [quote(k) for k in spec.join_keys]
    features = [quote(f) for f in spec.features]
    if table.rows is not None:
        position = [] if table.deduplicated else [f"{SOURCE_ORDER} AS {_POSITION}"]
        columns = [*keys, EVENT, CREATED, *position, *features]
        return f"SELECT {', '.join(columns)} FROM __fp_source_{index}"
    event = quote(spec.event_timestamp_column)
    created = (
        _micros_sql(quote(spec.created_timestamp_column), table.created_aware)
        if spec.created_timestamp_column is not None
        else "NULL::BIGINT"
    )
    # Matching columns by name makes DuckDB read every file's footer when binding.
    flags = ", union_by_name = true" if table.files_differ else ""
    lo, hi = table.window
    # Compare the raw column with constants so DuckDB pushes the filter into the Parquet scan.
    conditions = [f"{event} <= {timestamp_literal(hi, table.event_aware)}"]
    if lo is not None:
        conditions.append(f"{event} >= {timestamp_literal(lo, table.event_aware)}")
    where = f" WHERE {' AND '.join(conditions)}"

    def scan(files: tuple[str, ...], first: int) -> str:
        """One read_parquet of ``files``, which start at index ``first`` of table.files."""
        position = (
            []
            if table.deduplicated
            else [
                f"(file_index::BIGINT + {first}) * {_ROW_BITS} + file_row_number AS {_POSITION}"
            ]
        )
        columns = [
            *keys,
            f"{_micros_sql(event, table.event_aware)} AS {EVENT}",
            f"{created} AS {CREATED}",
            *position,
            *features,
        ]
        names = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return f"SELECT {', '.join(columns)} FROM read_parquet([{names}]{flags})"

    if table.files_differ or not table.files_in_window:
        return scan(table.files, 0) + where
    # Filtering rows costs about 3% of the join, so only runs of files that may hold rows
    # outside the window are filtered; each run keeps its files' source positions.
    parts, first = [], 0
    for inside, run in groupby(table.files, key=lambda f: f in table.files_in_window):
        files = tuple(run)
        parts.append(scan(files, first) + ("" if inside else where))
        first += len(files)
    return " UNION ALL ".join(parts)


def _ordered_sql(index: int, table: PreparedTable) -> str:
    """The table's rows with the composite ordering key (see the module docstring)."""
    fields = [f"'e': {EVENT}", f"'c': coalesce({CREATED}, {_NULL_CREATED})"]
    if not table.deduplicated:
        fields.append(f"'p': {_POSITION}")
    return f"SELECT *, {{{', '.join(fields)}}} AS {_ORDER} FROM ({_source_sql(index, table)})"


def _entity_key(table: PreparedTable, inclusive: bool) -> str:
    """The entity side's ordering key against ``table`` (same fields as the table's)."""
    bound = _MAX if inclusive else _MIN
    fields = [f"'e': e.{TIME}", f"'c': {bound}"]
    if not table.deduplicated:
        fields.append(f"'p': {bound}")
    return f"{{{', '.join(fields)}}}"


def _asof(index: int, table: PreparedTable, inclusive: bool) -> tuple[list[str], str, str]:
    """Output selects, the CTE and the ASOF clause of one table, aliased ``f<index>``."""
    alias = f"f{index}"
    selects = []
    for feature, name in zip(table.spec.features, table.output_names):
        value = f"{alias}.{quote(feature)}"
        if table.ttl_micros is not None:
            value = f"CASE WHEN {alias}.{EVENT} >= e.{TIME} - {table.ttl_micros} THEN {value} END"
        selects.append(f"{value} AS {quote(name)}")
    on = [f"e.{quote(k)} = {alias}.{quote(k)}" for k in table.spec.join_keys]
    on.append(f"{_entity_key(table, inclusive)} > {alias}.{_ORDER}")
    cte = f"{alias} AS ({_ordered_sql(index, table)})"
    return selects, cte, f"ASOF LEFT JOIN {alias} ON {' AND '.join(on)}"


def join_query(tables: list[PreparedTable], inclusive: bool, *, ordered: bool = True) -> str:
    """The SQL joining ``__fp_entity`` with ``tables``: ROW and the output features, sorted
    by ROW when ``ordered``."""
    ctes, selects, joins = [], [f"e.{ROW}"], []
    for index, table in enumerate(tables):
        table_selects, cte, join = _asof(index, table, inclusive)
        ctes.append(cte)
        selects += table_selects
        joins.append(join)
    order = f" ORDER BY e.{ROW}" if ordered else ""
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(selects)} FROM __fp_entity e "
        f"{' '.join(joins)}{order}"
    )


def _configure(con: duckdb.DuckDBPyConnection, settings: DuckDBSettings) -> None:
    """Apply ``settings``; a value DuckDB refuses is a ConfigError naming the setting."""
    values = {
        "threads": settings.threads,
        "memory_limit": settings.memory_limit,
        "temp_directory": (
            os.fspath(settings.temp_directory) if settings.temp_directory is not None else None
        ),
    }
    for name, value in values.items():
        if value is None:
            continue
        if name == "temp_directory":
            Path(str(value)).mkdir(parents=True, exist_ok=True)
        try:
            con.execute(f"SET {name} = ?", [value])
        except duckdb.Error as exc:
            raise ConfigError(
                f"duckdb_{name}={value!r} is not accepted by DuckDB ({exc}); e.g. "
                "duckdb_memory_limit='4GB', duckdb_threads=2, duckdb_temp_directory='/tmp/spill'"
            ) from None


def _connect(
    entity: PreparedEntity,
    tables: list[PreparedTable],
    settings: DuckDBSettings,
    opening: OpeningConnection | None,
) -> duckdb.DuckDBPyConnection:
    con = opening.take() if opening is not None else connect()
    try:
        _configure(con, settings)
    except ConfigError:
        con.close()
        raise
    # Entity order is restored by ROW, so DuckDB need not keep any other order.
    con.execute("SET preserve_insertion_order = false")
    con.register("__fp_entity", entity.join_rows)
    for index, table in enumerate(tables):
        if table.rows is not None:
            con.register(f"__fp_source_{index}", table.rows)
    return con


def _read_error(exc: Exception) -> OfflineStoreError:
    return OfflineStoreError(
        f"DuckDB could not read a feature table's Parquet files (or spill to its temp "
        f"directory): {exc}"
    )


def duckdb_join_table(
    entity: PreparedEntity,
    tables: list[PreparedTable],
    inclusive: bool,
    settings: DuckDBSettings = DuckDBSettings(),
    opening: OpeningConnection | None = None,
) -> pa.Table:
    """The joined feature columns (no entity columns), in entity row order, in memory
    (on the connection ``opening`` opens, if given)."""
    schema = feature_schema(tables)
    columns: list[pa.ChunkedArray] = []
    con = _connect(entity, tables, settings, opening)
    try:
        for index, table in enumerate(tables):
            selects, cte, join = _asof(index, table, inclusive)
            query = (
                f"WITH {cte} SELECT {', '.join(selects)} FROM __fp_entity e {join} "
                f"ORDER BY e.{ROW}"
            )
            try:
                joined = con.sql(query).to_arrow_table()
            except (duckdb.IOException, duckdb.InvalidInputException) as exc:
                raise _read_error(exc) from None
            for name in table.output_names:
                columns.append(joined.column(name).cast(schema.field(name).type))
            del joined
    finally:
        con.close()
    return pa.Table.from_arrays(columns, schema=schema)


def duckdb_join_batches(
    entity: PreparedEntity,
    tables: list[PreparedTable],
    inclusive: bool,
    settings: DuckDBSettings = DuckDBSettings(),
    opening: OpeningConnection | None = None,
    *,
    batch_rows: int = 1_000_000,
) -> Iterator[pa.RecordBatch]:
    """The joined feature columns (no entity columns), in entity row order, as Arrow
    batches streamed from one sorted query (bounded memory with a memory limit; on the
    connection ``opening`` opens, if given)."""
    schema = feature_schema(tables)
    con = _connect(entity, tables, settings, opening)
    try:
        try:
            reader = con.sql(join_query(tables, inclusive)).fetch_record_batch(batch_rows)
            for batch in reader:
                yield pa.RecordBatch.from_arrays(
                    [batch.column(n).cast(schema.field(n).type) for n in schema.names],
                    schema=schema,
                )
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            raise _read_error(exc) from None
    finally:
        con.close()
