"""Quiet long commands: the full output of runs goes to a log file, progress to the terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TextIO


@contextmanager
def output_to_file(path: Path) -> Iterator[TextIO]:
    """Append everything the process prints (Dagster's event lines, dbt's output, warnings)
    to ``path`` while the block runs; yields the terminal's stdout for progress lines."""
    terminal = sys.stdout
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as log:
        handler = logging.StreamHandler(log)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            with redirect_stdout(log), redirect_stderr(log):
                yield terminal
        finally:
            root.removeHandler(handler)
