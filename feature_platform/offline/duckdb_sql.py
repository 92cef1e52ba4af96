"""Small helpers for building DuckDB SQL safely."""

from __future__ import annotations

import threading

import duckdb


def use_utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Make the connection read and show TIMESTAMPTZ values in UTC."""
    con.execute("SET TimeZone = 'UTC'")
    return con


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose session time zone is UTC (so timestamp casts are UTC)."""
    return use_utc(duckdb.connect())


class OpeningConnection:
    """:func:`connect` run on a background thread from construction on.

    Opening a DuckDB database takes 15 to 20 ms, about what checking a small join's inputs
    takes, so a caller can do both at once. ``take()`` waits for the connection and hands it
    over (the taker closes it); ``close()`` closes it if it was never taken.
    """

    def __init__(self) -> None:
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._error: Exception | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._open, name="duckdb-open", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            self._connection = connect()
        except Exception as exc:  # noqa: BLE001 - raised again by take(), on the caller's thread
            self._error = exc

    def take(self) -> duckdb.DuckDBPyConnection:
        """The open connection, now the caller's to close; raises what opening raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._connection is not None
        self._taken = True
        return self._connection

    def close(self) -> None:
        """Close the connection unless it was taken."""
        self._thread.join()
        if not self._taken and self._connection is not None:
            self._connection.close()
            self._connection = None


def quote(identifier: str) -> str:
    """``identifier`` as a quoted DuckDB identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def timestamp_literal(micros: int, aware: bool) -> str:
    """A constant timestamp ``micros`` after the epoch, typed to compare with a column directly
    (TIMESTAMPTZ for an aware column, TIMESTAMP for a naive one) so the Parquet scan can use
    it as a pushed-down filter."""
    naive = f"make_timestamp({int(micros)}::BIGINT)"
    return f"{naive}::TIMESTAMPTZ" if aware else naive
