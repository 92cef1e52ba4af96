"""Reading a feature view's rows from its warehouse source table (DuckDB)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from feature_platform.errors import MissingColumnError, OfflineStoreError
from feature_platform.offline.duckdb_sql import quote, use_utc
from feature_platform.specs import FeatureView


def require_warehouse(path: Path) -> None:
    """Raise an error that names the fix when the warehouse file does not exist."""
    if not path.exists():
        raise OfflineStoreError(
            f"The warehouse {path} does not exist: build the source tables first "
            "(`make demo`, or materialize the dbt assets)"
        )


def connect_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse, in UTC."""
    require_warehouse(path)
    return use_utc(duckdb.connect(str(path), read_only=True))


def _select_list(con: duckdb.DuckDBPyConnection, view: FeatureView) -> str:
    source = view.table_source
    try:
        present = {row[0] for row in con.execute(f'DESCRIBE "{source.table}"').fetchall()}
    except duckdb.CatalogException:
        raise OfflineStoreError(
            f"Source table {source.table!r} of feature view {view.name!r} is not in the "
            f"warehouse: build dbt model {source.dbt_model!r} first"
        ) from None
    needed = [*view.join_keys, source.event_timestamp_column, source.created_timestamp_column]
    needed += view.feature_names
    for column in needed:
        if column not in present:
            raise MissingColumnError(
                column,
                f"source table {source.table!r} of feature view {view.name!r}",
                f"Add it to dbt model {source.dbt_model!r} or fix the view's spec.",
            )
    columns = [quote(k) for k in view.join_keys]
    columns.append(f"{quote(source.event_timestamp_column)}::TIMESTAMPTZ AS event_timestamp")
    columns.append(f"{quote(source.created_timestamp_column)}::TIMESTAMPTZ AS created_timestamp")
    columns += [quote(f) for f in view.feature_names]
    return ", ".join(columns)


def read_source_window(
    con: duckdb.DuckDBPyConnection, view: FeatureView, start: datetime, end: datetime
) -> pa.Table:
    """The view's rows with event time in ``[start, end)``, in the view's offline schema."""
    query = (
        f"SELECT {_select_list(con, view)} FROM \"{view.table_source.table}\" "
        f'WHERE "{view.table_source.event_timestamp_column}" >= ? '
        f'AND "{view.table_source.event_timestamp_column}" < ?'
    )
    return con.sql(query, params=[start, end]).to_arrow_table().cast(view.arrow_schema)


def read_source_created_since(
    con: duckdb.DuckDBPyConnection,
    view: FeatureView,
    created_after: datetime,
    until: datetime | None = None,
) -> pa.Table:
    """The view's rows whose created (ingestion) time is after ``created_after``.

    Late rows carry an old event time but a new created time, so an incremental reader
    that filters on created time picks them up.
    """
    created = view.table_source.created_timestamp_column
    query = f'SELECT {_select_list(con, view)} FROM "{view.table_source.table}" WHERE "{created}" > ?'
    params: list[object] = [created_after]
    if until is not None:
        query += f' AND "{created}" <= ?'
        params.append(until)
    return con.sql(query, params=params).to_arrow_table().cast(view.arrow_schema)
