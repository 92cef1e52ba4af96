"""Reading Parquet paths and globs given as input (rows in memory: :mod:`feature_platform.rows`)."""

from __future__ import annotations

import glob
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


def read_parquet_schema(path: str) -> pa.Schema:
    """The Arrow schema in the footer of the Parquet file at ``path``."""
    # An open file skips pyarrow's filesystem resolution, which costs more than reading
    # a small footer when a glob names hundreds of files.
    with pa.OSFile(path) as handle:
        return pq.read_schema(handle)


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
