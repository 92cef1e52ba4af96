"""DuckDB opened on a background thread while the join checks its inputs."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from feature_platform.errors import MissingColumnError
from feature_platform.offline import FeatureTable, duckdb_sql, point_in_time_join
from feature_platform.offline.duckdb_sql import OpeningConnection


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[duckdb.DuckDBPyConnection]:
    """Every connection that ``duckdb_sql.connect`` opens during the test."""
    connections: list[duckdb.DuckDBPyConnection] = []
    original = duckdb_sql.connect

    def recording() -> duckdb.DuckDBPyConnection:
        connections.append(original())
        return connections[-1]

    monkeypatch.setattr(duckdb_sql, "connect", recording)
    return connections


def test_taken_connection_is_open_in_utc_and_belongs_to_the_taker(
    opened: list[duckdb.DuckDBPyConnection],
) -> None:
    opening = OpeningConnection()
    con = opening.take()
    assert con is opened[0]
    assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    opening.close()  # taken: the taker's to close, so still usable
    assert con.execute("SELECT 1").fetchone() == (1,)
    con.close()


def test_untaken_connection_is_closed(opened: list[duckdb.DuckDBPyConnection]) -> None:
    OpeningConnection().close()
    assert len(opened) == 1
    with pytest.raises(duckdb.ConnectionException):
        opened[0].sql("SELECT 1")


def test_a_join_that_fails_its_checks_closes_the_connection_it_opened(
    opened: list[duckdb.DuckDBPyConnection],
) -> None:
    day = pd.Timestamp("2026-01-01", tz="UTC")
    features = pd.DataFrame({"user_id": [1], "event_timestamp": [day]})
    table = FeatureTable("activity", features, ["user_id"], ["purchases"])
    entity = pd.DataFrame({"user_id": [1], "event_timestamp": [day + pd.Timedelta(days=1)]})
    with pytest.raises(MissingColumnError):
        point_in_time_join(entity, [table])
    assert len(opened) == 1
    with pytest.raises(duckdb.ConnectionException):
        opened[0].sql("SELECT 1")


def test_a_join_runs_on_the_connection_it_opened_and_closes_it(
    opened: list[duckdb.DuckDBPyConnection],
) -> None:
    day = pd.Timestamp("2026-01-01", tz="UTC")
    features = pd.DataFrame({"user_id": [1], "event_timestamp": [day], "purchases": [3]})
    table = FeatureTable(
        "activity", features, ["user_id"], ["purchases"], created_timestamp_column=None
    )
    entity = pd.DataFrame({"user_id": [1], "event_timestamp": [day + pd.Timedelta(days=1)]})
    assert point_in_time_join(entity, [table])["purchases"].tolist() == [3]
    assert len(opened) == 1
    with pytest.raises(duckdb.ConnectionException):
        opened[0].sql("SELECT 1")
