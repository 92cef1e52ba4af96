"""Durable checkpoints of incremental materialization, one small JSON file per view.

They live in the data folder beside the offline store rather than in Dagster's run
history, so that wiping or replacing the Dagster instance never resets them to "publish
everything again", and core code and the CLI can read them without Dagster.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path

from feature_platform.errors import OfflineStoreError


def write_json_atomically(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path``: temp file, fsync, rename (readers see old or new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class CheckpointStore:
    """``<root>/<view>.json`` holding the largest created timestamp already published."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, view_name: str) -> Path:
        return self.root / f"{view_name}.json"

    def get(self, view_name: str) -> datetime | None:
        """The view's checkpoint, or None before its first incremental run."""
        path = self._path(view_name)
        if not path.exists():
            return None
        try:
            return datetime.fromisoformat(json.loads(path.read_text())["created_timestamp"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OfflineStoreError(
                f"Checkpoint file {path} is unreadable ({exc}); delete it to republish the "
                "view's recent rows from its reprocessing window"
            ) from None

    def set(self, view_name: str, created_timestamp: datetime) -> None:
        """Record the checkpoint atomically (temp file, fsync, rename)."""
        write_json_atomically(self._path(view_name), {"created_timestamp": created_timestamp.isoformat()})
