"""Turning source tables into feature rows for the offline and online stores."""

from feature_platform.materialization.source_reader import (
    connect_warehouse,
    read_source_created_since,
    read_source_window,
)

__all__ = ["connect_warehouse", "read_source_created_since", "read_source_window"]
