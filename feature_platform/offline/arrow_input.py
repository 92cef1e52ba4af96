"""Reading Parquet paths and globs given as input (rows in memory: :mod:`feature_platform.rows`)."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from feature_platform.errors import SchemaError


def is_path_like(data: object) -> bool:
    """Whether ``data`` names Parquet files (a path or a glob) rather than holding rows."""
    return isinstance(data, (str, os.PathLike))


def parquet_files(path: str | os.PathLike[str], where: str) -> list[str]:
    """The Parquet files ``path`` names: one file, every ``*.parquet`` of a directory, or a glob."""
    text = os.fspath(path)
    candidate = Path(text)
    if candidate.is_dir():
        files = sorted(str(p) for p in candidate.rglob("*.parquet") if not p.name.startswith("."))
    elif candidate.is_file():
        files = [str(candidate)]
    else:
        files = sorted(glob.glob(text, recursive=True))
    if not files:
        raise SchemaError(f"{where}: no Parquet file matches {text!r}; check the path or glob")
    return [os.path.abspath(f) for f in files]


def read_parquet_footer(path: str) -> pq.FileMetaData:
    """The footer of the Parquet file at ``path`` (its schema and row-group statistics)."""
    # An open file skips pyarrow's filesystem resolution, which costs more than reading
    # a small footer when a glob names hundreds of files.
    with pa.OSFile(path) as handle:
        return pq.read_metadata(handle)


_MICROS_PER_UNIT = {"milliseconds": (1000, 1), "microseconds": (1, 1), "nanoseconds": (1, 1000)}


def timestamp_range_micros(footer: pq.FileMetaData, column: str) -> tuple[int, int] | None:
    """The least and greatest value of the top-level timestamp ``column`` in the file, as
    micros since the epoch (naive values read as UTC), from the row groups' statistics;
    None when a row group has none or the column is not an INT64 timestamp."""
    leaves = [footer.schema.column(i) for i in range(footer.num_columns)]
    index = next((i for i, leaf in enumerate(leaves) if leaf.path == column), None)
    if index is None or leaves[index].physical_type != "INT64":
        return None
    unit = json.loads(leaves[index].logical_type.to_json()).get("timeUnit")
    if unit not in _MICROS_PER_UNIT:
        return None
    times, per = _MICROS_PER_UNIT[unit]
    spans = []
    for group in range(footer.num_row_groups):
        stats = footer.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            return None
        # Floor the least value and ceil the greatest, so the range never shrinks.
        spans.append((stats.min_raw * times // per, -(-stats.max_raw * times // per)))
    if not spans:
        return None
    return min(low for low, _ in spans), max(high for _, high in spans)


def read_parquet_files(files: list[str], where: str) -> pa.Table:
    """All rows of ``files``, in file order then row order."""
    try:
        # ParquetFile reads one file without pq.read_table's pyarrow.dataset machinery, whose
        # first import alone costs more than reading a 100k-row entity file.
        tables = []
        for name in files:
            with pa.OSFile(name) as handle:
                tables.append(pq.ParquetFile(handle).read())
        return pa.concat_tables(tables, promote_options="default")
    except (OSError, pa.ArrowInvalid) as exc:
        raise SchemaError(f"{where}: cannot read Parquet files {files[:3]}...: {exc}") from None
