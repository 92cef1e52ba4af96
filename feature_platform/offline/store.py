"""The offline store: a feature view's rows as Parquet files, one per time partition."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feature_platform.errors import (
    MissingColumnError,
    OfflineStoreError,
    PartitionWindowError,
    RowOutsideWindowError,
)
from feature_platform.files import atomic_write
from feature_platform.offline.duckdb_sql import connect, quote, timestamp_literal
from feature_platform.offline.feature_table import FeatureTable
from feature_platform.offline.partitioned_source import (
    PartitionedParquetSource,
    partition_file_name,
)
from feature_platform.rows.conversion import view_table
from feature_platform.rows.timestamps import as_utc, epoch_micros
from feature_platform.specs.feature_view import FeatureView

_ROW_ORDER = "__fp_input_row"
_PARTITION = "__fp_partition"


@dataclass(frozen=True)
class PartitionWrite:
    """One partition that :meth:`OfflineStore.write_partitions` replaced."""

    start: datetime
    end: datetime
    path: Path
    row_count: int


class OfflineStore:
    """Parquet files under ``root``: ``<root>/<view name>/<partition start>.parquet``.

    Each file holds the view's rows with ``event_timestamp`` in its partition, with the
    view's ``arrow_schema`` (timestamps as timestamp[us, UTC]), at most one row per
    (join keys, event_timestamp, created_timestamp), sorted by those columns. An existing
    file, even an empty one, means the partition was materialized.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def source(self, view: FeatureView) -> PartitionedParquetSource:
        """The partitioned files of ``view``, as a source the point-in-time join can prune."""
        return PartitionedParquetSource(self.root / view.name, view.partitioning, view.arrow_schema)

    def partition_path(self, view: FeatureView, start: datetime) -> Path:
        """The file of the partition of ``view`` that starts at ``start``."""
        start = as_utc(start, "partition start")
        self._check_boundary(view, start, "partition start")
        return self.root / view.name / partition_file_name(view.partitioning, start)

    def materialized_partitions(self, view: FeatureView) -> list[datetime]:
        """Starts of the partitions of ``view`` that exist (materialized, maybe empty), oldest first."""
        return [start for start, _ in self.source(view).partitions()]

    def feature_table(self, view: FeatureView, features: Sequence[str]) -> FeatureTable:
        """``features`` of ``view`` as an input of ``point_in_time_join`` (pruned to its window)."""
        names = list(features)
        for name in names:
            view.feature(name)
        return FeatureTable(
            name=view.name,
            source=self.source(view),
            join_keys=view.join_keys,
            features=names,
            ttl=view.ttl,
            event_timestamp_column="event_timestamp",
            created_timestamp_column="created_timestamp",
            deduplicated=True,
        )

    def write_partitions(
        self,
        view: FeatureView,
        start: datetime,
        end: datetime,
        table: pa.Table | pd.DataFrame,
    ) -> list[PartitionWrite]:
        """Replace every partition of ``view`` in ``[start, end)`` with the rows of ``table``.

        All rows are checked before any file is touched: the view's columns must be present
        (MissingColumnError) with compatible types (SchemaError), keys and timestamps must
        not be null (NullValueError) and every event_timestamp must lie in ``[start, end)``
        (RowOutsideWindowError). Rows equal on (keys, event_timestamp, created_timestamp)
        keep the last occurrence. A partition without rows is written as an empty file.
        Each file is replaced atomically (temp file, fsync, rename): readers see the old or
        the new partition, and a crash leaves the old one.
        """
        start = as_utc(start, "write window start")
        end = as_utc(end, "write window end")
        self._check_boundary(view, start, "write window start")
        self._check_boundary(view, end, "write window end")
        if end <= start:
            raise PartitionWindowError(
                f"View {view.name!r}: write window [{start}, {end}) is empty; end must be after start"
            )
        where = f"the rows written to view {view.name!r}"
        rows = view_table(table, view, where)
        self._check_window(rows, start, end, where)
        ordered, bounds = self._dedup_sort_split(view, rows, start, end)
        directory = self.root / view.name
        directory.mkdir(parents=True, exist_ok=True)
        writes = []
        step = view.partitioning.step
        for index, (lo, hi) in enumerate(bounds):
            p_start = start + index * step
            path = directory / partition_file_name(view.partitioning, p_start)
            part = ordered.slice(lo, hi - lo)
            write_atomically(path, part)
            writes.append(PartitionWrite(p_start, p_start + step, path, part.num_rows))
        return writes

    def read(
        self,
        view: FeatureView,
        start: datetime | None = None,
        end: datetime | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Rows of ``view`` with event_timestamp in ``[start, end)``; only overlapping files are opened."""
        schema = view.arrow_schema
        names = list(columns) if columns is not None else schema.names
        for name in names:
            if schema.get_field_index(name) < 0:
                raise MissingColumnError(
                    name, f"view {view.name!r}", f"Columns of the view: {', '.join(schema.names)}"
                )
        lo = as_utc(start, "read start") if start is not None else None
        hi = as_utc(end, "read end") if end is not None else None
        target = pa.schema([schema.field(n) for n in names])
        files = self.source(view).files(lo, hi, end_inclusive=False)
        if not files:
            return target.empty_table()
        conditions = ["TRUE"]
        if lo is not None:
            conditions.append(f"event_timestamp >= {timestamp_literal(epoch_micros(lo), True)}")
        if hi is not None:
            conditions.append(f"event_timestamp < {timestamp_literal(epoch_micros(hi), True)}")
        file_list = ", ".join(quote_path(f) for f in files)
        query = (
            f"SELECT {', '.join(quote(n) for n in names)} FROM read_parquet([{file_list}]) "
            f"WHERE {' AND '.join(conditions)}"
        )
        with connect() as con:
            try:
                result = con.sql(query).to_arrow_table()
            except duckdb.Error as exc:
                raise OfflineStoreError(
                    f"View {view.name!r}: cannot read partitions: {exc}"
                ) from None
        return result.cast(target)

    @staticmethod
    def _check_boundary(view: FeatureView, ts: datetime, what: str) -> None:
        if view.partitioning.floor(ts) != ts:
            raise PartitionWindowError(
                f"View {view.name!r}: {what} {ts.isoformat()} is not the start of a "
                f"{view.partitioning.value} partition; use {view.partitioning.floor(ts).isoformat()}"
            )

    @staticmethod
    def _check_window(rows: pa.Table, start: datetime, end: datetime, where: str) -> None:
        if rows.num_rows == 0:
            return
        ets = rows.column("event_timestamp")
        outside = pc.or_(
            pc.less(ets, pa.scalar(start, ets.type)),
            pc.greater_equal(ets, pa.scalar(end, ets.type)),
        )
        count = pc.sum(outside).as_py() or 0
        if count:
            first = ets.filter(outside)[0].as_py()
            raise RowOutsideWindowError(
                f"{count} row(s) of {where} have an event_timestamp outside the write window "
                f"[{start.isoformat()}, {end.isoformat()}) (first: {first.isoformat()}); write "
                "them with the partitions they belong to, or widen the window"
            )

    @staticmethod
    def _dedup_sort_split(
        view: FeatureView, rows: pa.Table, start: datetime, end: datetime
    ) -> tuple[pa.Table, list[tuple[int, int]]]:
        """Rows deduplicated (last occurrence wins) and sorted by partition, keys, timestamps,
        plus each partition's [lo, hi) row range."""
        step_us = int(view.partitioning.step.total_seconds()) * 1_000_000
        start_us = epoch_micros(start)
        count = int((end - start) / view.partitioning.step)
        numbered = rows.append_column(
            _ROW_ORDER, pa.array(np.arange(rows.num_rows, dtype=np.int64))
        )
        identity = ", ".join(
            quote(c) for c in [*view.join_keys, "event_timestamp", "created_timestamp"]
        )
        features = ", ".join(quote(n) for n in view.arrow_schema.names)
        query = f"""
            SELECT {features}, (epoch_us(event_timestamp) - {start_us}) // {step_us} AS {_PARTITION}
            FROM numbered
            QUALIFY row_number() OVER (PARTITION BY {identity} ORDER BY {_ROW_ORDER} DESC) = 1
            ORDER BY {_PARTITION}, {identity}
        """
        with connect() as con:
            con.register("numbered", numbered)
            result = con.sql(query).to_arrow_table()
        partition = result.column(_PARTITION).to_numpy()
        edges = np.searchsorted(partition, np.arange(count + 1), side="left")
        ordered = result.drop_columns([_PARTITION]).cast(view.arrow_schema)
        return ordered, [(int(edges[i]), int(edges[i + 1])) for i in range(count)]


def quote_path(path: Path | str) -> str:
    """A file path as a DuckDB string literal."""
    return "'" + os.fspath(path).replace("'", "''") + "'"


def write_atomically(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` durably, replacing it atomically (:func:`atomic_write`)."""
    try:
        with atomic_write(path) as tmp:
            pq.write_table(table, tmp)
    except OSError as exc:
        raise OfflineStoreError(f"Cannot write partition file {path}: {exc}") from exc
