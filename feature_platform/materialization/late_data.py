"""Finding offline partitions whose source rows changed after they were materialized.

A partition needs a correction run when its source rows differ from what the offline
store holds: a late row arrived (new created timestamp, old event time), a re-delivery
changed a value, or a rolling aggregate was recomputed. Each side is reduced to a
fingerprint per partition (row count, newest created timestamp, XOR of row hashes), so
the comparison reads no more than one scan of each side of the lookback window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from feature_platform.materialization.source_reader import read_source_window
from feature_platform.offline import OfflineStore
from feature_platform.offline.duckdb_sql import connect, quote
from feature_platform.specs import FeatureView, Partitioning


@dataclass(frozen=True)
class PartitionFingerprint:
    """A summary of one partition's rows; equal fingerprints mean equal rows."""

    rows: int
    max_created: datetime | None
    digest: int


@dataclass(frozen=True)
class LatePartition:
    """A materialized partition whose source no longer matches the offline store."""

    view: str
    start: datetime
    partition_key: str
    source: PartitionFingerprint
    offline: PartitionFingerprint

    @property
    def run_key(self) -> str:
        """Identifies this exact change, so the same late batch is corrected once."""
        return f"late:{self.view}:{self.partition_key}:{self.source.digest:x}:{self.source.rows}"


def fingerprints(table: pa.Table, view: FeatureView) -> dict[datetime, PartitionFingerprint]:
    """Fingerprint per partition start of rows in the view's offline schema."""
    unit = "day" if view.partitioning is Partitioning.DAILY else "hour"
    columns = ", ".join(quote(c) for c in view.arrow_schema.names)
    con = connect()
    try:
        con.register("rows_in", table)
        result = con.execute(
            f"SELECT date_trunc('{unit}', event_timestamp) AS start, count(*), max(created_timestamp), "
            f"bit_xor(hash({columns})) FROM rows_in GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    return {start: PartitionFingerprint(int(n), created, int(digest)) for start, n, created, digest in result}


def find_late_partitions(
    warehouse: duckdb.DuckDBPyConnection,
    view: FeatureView,
    offline_store: OfflineStore,
    *,
    since: datetime,
    until: datetime,
) -> list[LatePartition]:
    """Materialized partitions of ``view`` in ``[since, until)`` whose source rows differ.

    Partitions never materialized are left out: filling them is a backfill, not a correction.
    """
    start = view.partitioning.floor(since)
    materialized = {s for s in offline_store.materialized_partitions(view) if start <= s < until}
    if not materialized:
        return []
    source = fingerprints(read_source_window(warehouse, view, start, until), view)
    offline = fingerprints(offline_store.read(view, start, until), view)
    empty = PartitionFingerprint(0, None, 0)
    late = []
    for partition in sorted(materialized):
        have = offline.get(partition, empty)
        want = source.get(partition, empty)
        if have != want:
            key = partition.strftime(view.partitioning.key_format)
            late.append(LatePartition(view.name, partition, key, want, have))
    return late
