"""Turning source tables into feature rows for the offline and online stores: full and
incremental publishing, late-data detection, and online/offline validation."""

from feature_platform.materialization.source_reader import (
    connect_warehouse,
    read_source_created_since,
    read_source_window,
    require_warehouse,
)

__all__ = [
    "connect_warehouse",
    "read_source_created_since",
    "read_source_window",
    "require_warehouse",
]
