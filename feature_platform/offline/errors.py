"""Errors of the offline store and the point-in-time join, derived from feature_platform.errors."""

from __future__ import annotations

from feature_platform.errors import SchemaError, TerminalError


class PartitionWindowError(TerminalError, ValueError):
    """A write window is empty or does not start and end on partition boundaries."""


class RowOutsideWindowError(SchemaError):
    """A row's event_timestamp lies outside the window being written."""
