"""Replacing files atomically: a reader sees the old file or the new one, never a mix.

Every file the platform replaces (offline partitions, checkpoints, training sets written to
Parquet, landed raw files) goes through :func:`atomic_write`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync(fd: int) -> None:
    os.fsync(fd)


@contextmanager
def atomic_write(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """A hidden temp path beside ``path`` to write to; on a normal exit it replaces ``path``.

    The temp file is in the same directory (same file system, so the rename is atomic). With
    ``durable`` it is fsynced before the rename and the directory after, so the replacement
    survives a power loss. On any error the temp file is removed and ``path`` is left as it
    was. Nest several (an ``ExitStack``) to rename a group of files only once all are written.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        if durable:
            _fsync_path(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        _fsync_path(path.parent, os.O_RDONLY)


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def make_durable_dir(path: Path) -> None:
    """Create ``path`` and its missing parents so that they survive a power loss (each new
    directory's parent is fsynced after it is created)."""
    path = Path(path)
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise
        _fsync_path(directory.parent, os.O_RDONLY)
