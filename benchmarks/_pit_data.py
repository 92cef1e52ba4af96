"""Deterministic synthetic data for benchmarks/pit_join.py, written into an OfflineStore layout."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from feature_platform.offline import OfflineStore
from feature_platform.specs import Entity, Feature, FeatureView, TableSource, ValueType

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 60
TTL = timedelta(days=5)


@dataclass(frozen=True)
class Size:
    keys: int
    feature_rows: int
    entity_rows: int


SIZES = {
    "S": Size(keys=10_000, feature_rows=1_000_000, entity_rows=100_000),
    "M": Size(keys=100_000, feature_rows=10_000_000, entity_rows=1_000_000),
    "L": Size(keys=1_000_000, feature_rows=100_000_000, entity_rows=10_000_000),
}
USER = Entity("bench_user", {"user_id": ValueType.INT64})


def views() -> list[FeatureView]:
    """Two views of 5 and 10 float features, ttl 5 days."""
    return [
        FeatureView(
            name=f"bench_view_{n}",
            entity=USER,
            features=[Feature(f"v{n}_f{i}", ValueType.FLOAT64) for i in range(n)],
            source=TableSource(f"bench_src_{n}"),
            ttl=TTL,
        )
        for n in (5, 10)
    ]


def _day_rows(
    con: duckdb.DuckDBPyConnection, view: FeatureView, size: Size, day: int, seed: int
) -> object:
    """One day's rows: 99% fresh (key, event) pairs, 1% ties on (key, event) with a later created."""
    per_day = size.feature_rows // DAYS
    ties = per_day // 100
    fresh = per_day - ties
    start_us = int((START + timedelta(days=day)).timestamp() * 1_000_000)
    features = ", ".join(
        f"hash(i, {seed}, {j}) % 100000 / 1000.0 AS {f}" for j, f in enumerate(view.feature_names)
    )
    return con.sql(
        f"""
        WITH base AS (
            SELECT i, hash(i, {seed}, 'k') % {size.keys} AS user_id,
                   make_timestamp(({start_us} + hash(i, {seed}, 't') % 86400000000)::BIGINT)::TIMESTAMPTZ AS event_timestamp
            FROM range({fresh}) r(i)
        ), rows AS (
            SELECT i, user_id, event_timestamp,
                   event_timestamp + INTERVAL 1 HOUR AS created_timestamp
            FROM base
            UNION ALL
            SELECT i + {fresh}, user_id, event_timestamp,
                   event_timestamp + INTERVAL 2 HOUR AS created_timestamp
            FROM base WHERE i < {ties}
        )
        SELECT user_id::BIGINT AS user_id, event_timestamp, created_timestamp, {features} FROM rows
        """
    ).to_arrow_table()


def ensure_data(size_name: str, data_dir: Path) -> Path:
    """Generate (once) the offline store and the entity Parquet file for ``size_name``."""
    size = SIZES[size_name]
    root = data_dir / f"pit_{size_name}"
    marker = root / "done.json"
    if marker.exists():
        return root
    store = OfflineStore(root / "offline")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for seed, view in enumerate(views(), start=1):
        for day in range(DAYS):
            table = _day_rows(con, view, size, day, seed * 1000 + day)
            day_start = START + timedelta(days=day)
            store.write_partitions(view, day_start, day_start + timedelta(days=1), table)
    start_us = int(START.timestamp() * 1_000_000)
    span_us = DAYS * 86_400_000_000
    con.sql(
        f"""
        COPY (
            SELECT (hash(i, 'ek') % {size.keys + size.keys // 20})::BIGINT AS user_id,
                   make_timestamp(({start_us} + hash(i, 'et') % {span_us})::BIGINT)::TIMESTAMPTZ AS event_timestamp,
                   (hash(i, 'label') % 2)::BIGINT AS label
            FROM range({size.entity_rows}) r(i)
        ) TO '{root / "entity.parquet"}' (FORMAT parquet)
        """
    )
    con.close()
    marker.write_text(json.dumps({"size": size_name}))
    return root


def raw_glob(root: Path, view: FeatureView) -> str:
    """The glob of ``view``'s raw Parquet files (see :func:`ensure_raw`)."""
    return str(root / "raw" / view.name / "*.parquet")


def ensure_raw(root: Path) -> None:
    """Raw Parquet files per view, as a user would point ``FeatureTable(source=glob)`` at:
    the offline store's partition files (symlinked) plus one last file of late exact
    duplicates of (user_id, event_timestamp, created_timestamp) for 0.1% of the rows, each
    written twice with new values, so only the last copy in source order is correct."""
    marker = root / "raw" / "done.json"
    if marker.exists():
        return
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for view in views():
        directory = root / "raw" / view.name
        directory.mkdir(parents=True, exist_ok=True)
        for partition in sorted((root / "offline" / view.name).glob("*.parquet")):
            link = directory / partition.name
            if not link.exists():
                link.symlink_to(partition.resolve())
        copies = " UNION ALL ".join(
            f"SELECT {n} AS copy, user_id, event_timestamp, created_timestamp, "
            + ", ".join(f"{f} + {n} AS {f}" for f in view.feature_names)
            + f" FROM read_parquet('{root / 'offline' / view.name}/*.parquet') "
            "WHERE hash(user_id, event_timestamp) % 1000 = 0"
            for n in (1, 2)
        )
        con.sql(
            f"COPY (SELECT * EXCLUDE (copy) FROM ({copies}) ORDER BY copy, user_id, "
            f"event_timestamp) TO '{directory / 'zz_late_duplicates.parquet'}' (FORMAT parquet)"
        )
    con.close()
    marker.write_text(json.dumps({"raw": True}))
