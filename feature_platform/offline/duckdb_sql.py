"""Small helpers for building DuckDB SQL safely."""

from __future__ import annotations

import duckdb


def use_utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Make the connection read and show TIMESTAMPTZ values in UTC."""
    con.execute("SET TimeZone = 'UTC'")
    return con


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose session time zone is UTC (so timestamp casts are UTC)."""
    return use_utc(duckdb.connect())


def quote(identifier: str) -> str:
    """``identifier`` as a quoted DuckDB identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def timestamp_literal(micros: int, aware: bool) -> str:
    """A constant timestamp ``micros`` after the epoch, typed to compare with a column directly
    (TIMESTAMPTZ for an aware column, TIMESTAMP for a naive one) so the Parquet scan can use
    it as a pushed-down filter."""
    naive = f"make_timestamp({int(micros)}::BIGINT)"
    return f"{naive}::TIMESTAMPTZ" if aware else naive
