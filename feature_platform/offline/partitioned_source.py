"""A feature view's Parquet files cut by event time: naming, listing and pruning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from feature_platform.specs.partitioning import Partitioning

PARTITION_SUFFIX = ".parquet"
# Dagster's hourly key contains ':', which is not portable in file names.
_FILE_FORMATS = {Partitioning.DAILY: "%Y-%m-%d", Partitioning.HOURLY: "%Y-%m-%dT%H"}


def partition_file_name(partitioning: Partitioning, start: datetime) -> str:
    """The file name of the partition starting at ``start`` (an aware UTC boundary)."""
    return start.strftime(_FILE_FORMATS[partitioning]) + PARTITION_SUFFIX


def parse_partition_file_name(partitioning: Partitioning, name: str) -> datetime | None:
    """The partition start a file name stands for, or None for files that are not partitions."""
    if not name.endswith(PARTITION_SUFFIX) or name.startswith("."):
        return None
    try:
        parsed = datetime.strptime(name[: -len(PARTITION_SUFFIX)], _FILE_FORMATS[partitioning])
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PartitionedParquetSource:
    """One Parquet file per time partition of a view, deduplicated and sorted at write time.

    ``point_in_time_join`` asks :meth:`files` for the partitions overlapping the event-time
    window it needs and never opens the others. ``schema`` is the files' schema (the view's
    ``arrow_schema``), known without reading any file.
    """

    directory: Path
    partitioning: Partitioning
    schema: pa.Schema

    def partitions(self) -> list[tuple[datetime, Path]]:
        """Every existing partition as (start, path), oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            start = parse_partition_file_name(self.partitioning, path.name)
            if start is not None:
                found.append((start, path))
        return sorted(found)

    def files(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        end_inclusive: bool = True,
    ) -> list[Path]:
        """Files of partitions that can hold an event time in ``[start, end]`` (or
        ``[start, end)`` with ``end_inclusive=False``); a None bound is unbounded."""
        step = self.partitioning.step
        return [
            path
            for p_start, path in self.partitions()
            if (end is None or p_start < end or (end_inclusive and p_start == end))
            and (start is None or p_start + step > start)
        ]

    def window_files(self, start: datetime | None, end: datetime) -> list[tuple[Path, bool]]:
        """The files of :meth:`files` for ``[start, end]`` (a None start is unbounded), from
        one listing, each with whether every event time its partition can hold is in that
        range (a scan of those needs no filter on event time)."""
        step = self.partitioning.step
        last = timedelta(microseconds=1)
        return [
            (path, (start is None or p_start >= start) and p_start + step - last <= end)
            for p_start, path in self.partitions()
            if p_start <= end and (start is None or p_start + step > start)
        ]
