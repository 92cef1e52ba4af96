"""Durable checkpoints of incremental materialization, one small JSON file per view.

They live in the data folder beside the offline store rather than in Dagster's run
history, so that wiping or replacing the Dagster instance never resets them to "publish
everything again", and core code and the CLI can read them without Dagster.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from feature_platform.errors import OfflineStoreError
from feature_platform.files import atomic_write


def write_json_atomically(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path``, replacing it atomically (:func:`atomic_write`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data))


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
