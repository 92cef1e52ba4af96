"""Landing raw event Parquet files, partitioned by ingestion date (UTC).

Layout: ``<landing_dir>/<table>/ingest_date=YYYY-MM-DD/<file>.parquet``. Every file is
written aside and renamed into place, so a reader (dbt's ``read_parquet`` glob) never sees
a half-written file: temporary files do not end in ``.parquet``.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feature_platform.errors import ConfigError, MissingColumnError, SchemaError
from feature_platform.files import atomic_write
from feature_platform.rows.timestamps import utc_micros_column
from feature_platform.sample_data.raw_schema import (
    EVENT_TIME_COLUMNS,
    INGEST_DATE_PARTITION,
    INGESTED_AT,
    RAW_SCHEMAS,
)

_MICROS_PER_DAY = 86_400_000_000
_EPOCH = date(1970, 1, 1)
_BATCH_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def conform_to_raw_schema(table: str, rows: pa.Table | pd.DataFrame) -> pa.Table:
    """``rows`` as an Arrow table with exactly the raw schema of ``table``.

    Raises a :class:`SchemaError` naming the table or column when a column is missing,
    unexpected, of an incompatible type, null, or when a row is ingested before its event.
    Timezone-naive timestamps are read as UTC.
    """
    schema = _raw_schema(table)
    arrow = (
        pa.Table.from_pandas(rows, preserve_index=False) if isinstance(rows, pd.DataFrame) else rows
    )
    if not isinstance(arrow, pa.Table):
        raise SchemaError(
            f"Rows for raw table {table!r} must be a pyarrow.Table or pandas.DataFrame, "
            f"got {type(rows).__name__}"
        )
    extra = [name for name in arrow.column_names if name not in schema.names]
    if extra:
        raise SchemaError(
            f"Column {extra[0]!r} is not part of raw table {table!r}; its columns are "
            f"{', '.join(schema.names)}"
        )
    columns = []
    for field in schema:
        if field.name not in arrow.column_names:
            raise MissingColumnError(
                field.name,
                f"the rows for raw table {table!r}",
                f"Expected columns: {', '.join(schema.names)}",
            )
        column = arrow.column(field.name)
        try:
            column = _cast_column(column, field.type, field.name, f"raw table {table!r}")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise SchemaError(
                f"Column {field.name!r} of raw table {table!r} has type {column.type}, which "
                f"cannot be read as {field.type}: {exc}"
            ) from None
        if column.null_count:
            raise SchemaError(
                f"Column {field.name!r} of raw table {table!r} has {column.null_count} null "
                "value(s); every raw column is required"
            )
        columns.append(column)
    conformed = pa.Table.from_arrays(columns, schema=schema)
    event_column = EVENT_TIME_COLUMNS[table]
    early = pc.sum(pc.less(conformed.column(INGESTED_AT), conformed.column(event_column))).as_py()
    if early:
        raise SchemaError(
            f"{early} row(s) of raw table {table!r} have {INGESTED_AT} before {event_column}; "
            "a row cannot arrive before its event happened"
        )
    return conformed


def land_batch(
    landing_dir: Path, table: str, rows: pa.Table | pd.DataFrame, *, batch_id: str
) -> tuple[Path, ...]:
    """Land ``rows`` of raw ``table`` as one extra file per ingestion date they span.

    Files are named ``part-batch-<batch_id>.parquet``; landing the same ``batch_id`` again
    replaces that batch's files (a retried delivery), never another batch's or the
    generator's. All files are written aside first and then renamed into place. Returns the
    landed files, in ingestion-date order.
    """
    if not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id):
        raise ConfigError(
            f"batch_id {batch_id!r} is not usable in a file name: use 1-100 letters, digits, "
            "'_', '-' or '.'"
        )
    conformed = conform_to_raw_schema(table, rows)
    if conformed.num_rows == 0:
        raise SchemaError(
            f"The batch {batch_id!r} for raw table {table!r} has no rows; nothing to land"
        )
    return write_by_ingest_date(
        Path(landing_dir) / table, conformed, f"part-batch-{batch_id}.parquet"
    )


def write_by_ingest_date(table_dir: Path, rows: pa.Table, file_name: str) -> tuple[Path, ...]:
    """Write ``rows`` under ``table_dir``, one ``file_name`` per ingestion date (UTC).

    Every file is first written to a temporary name next to its destination; only when all
    are written are they renamed into place.
    """
    days = rows.column(INGESTED_AT).cast(pa.int64()).to_numpy() // _MICROS_PER_DAY
    written: list[Path] = []
    with ExitStack() as renames:  # every file is renamed into place only once all are written
        for day in np.unique(days):
            folder = (
                table_dir
                / f"{INGEST_DATE_PARTITION}={(_EPOCH + timedelta(days=int(day))).isoformat()}"
            )
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / file_name
            temporary = renames.enter_context(atomic_write(final, durable=False))
            pq.write_table(rows.filter(pa.array(days == day)), temporary)
            written.append(final)
    return tuple(written)


def replace_tables(landing_dir: Path, tables: Mapping[str, pa.Table], file_name: str) -> None:
    """Replace the landing folder of each table in ``tables`` with ``file_name`` files of its rows.

    Each table is written to a hidden sibling folder and then swapped in, so a table's
    folder holds either its old files or its new ones.
    """
    landing_dir = Path(landing_dir)
    landing_dir.mkdir(parents=True, exist_ok=True)
    for table, rows in tables.items():
        _raw_schema(table)
        token = uuid.uuid4().hex
        fresh = landing_dir / f".{table}.{token}.new"
        retired = landing_dir / f".{table}.{token}.old"
        try:
            write_by_ingest_date(fresh, rows, file_name)
            target = landing_dir / table
            if target.exists():
                target.rename(retired)
            fresh.rename(target)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.rmtree(retired, ignore_errors=True)


def _raw_schema(table: str) -> pa.Schema:
    try:
        return RAW_SCHEMAS[table]
    except KeyError:
        raise SchemaError(
            f"Raw table {table!r} does not exist; raw tables are {', '.join(RAW_SCHEMAS)}"
        ) from None


def _cast_column(column: pa.ChunkedArray, target: pa.DataType, name: str, where: str) -> pa.ChunkedArray:
    if pa.types.is_timestamp(target) and pa.types.is_timestamp(column.type):
        # The platform's one timestamp rule: naive means UTC, finer than a microsecond is refused.
        return utc_micros_column(column, name, where).cast(target)
    textual = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if textual and not (pa.types.is_string(target) or pa.types.is_large_string(target)):
        # '12.5' cast silently would hide a producer sending text; refuse it by name.
        sample = next((v for v in column.to_pylist() if v is not None), None)
        raise SchemaError(
            f"Column {name!r} of {where} holds text ({column.type}, e.g. {sample!r}) where the "
            f"schema wants {target}; send {target} values, not strings"
        )
    return column.cast(target)


def first_ingest_date(landing_dir: Path) -> date | None:
    """The earliest ingestion date of any landed file under ``landing_dir`` (None: nothing landed)."""
    prefix = f"{INGEST_DATE_PARTITION}="
    days = []
    for folder in Path(landing_dir).glob(f"*/{prefix}*"):
        try:
            days.append(date.fromisoformat(folder.name.removeprefix(prefix)))
        except ValueError:
            continue
    return min(days, default=None)
