"""Checks shared by the spec classes."""

from __future__ import annotations

import re
from datetime import timedelta

from feature_platform.errors import SpecError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
RESERVED_COLUMNS = frozenset({"event_timestamp", "created_timestamp"})


def check_identifier(value: object, what: str) -> str:
    """Return ``value`` if it is a safe identifier (letters, digits, ``_``; not first a digit)."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise SpecError(
            f"{what} {value!r} is not a safe identifier: use 1-63 letters, digits or '_', "
            "not starting with a digit (it becomes a table, column and Redis key name)"
        )
    return value


def check_positive_ttl(ttl: timedelta | None, what: str) -> timedelta | None:
    """Return ``ttl`` if it is ``None`` (no limit) or a positive timedelta."""
    if ttl is None:
        return None
    if not isinstance(ttl, timedelta):
        raise SpecError(f"{what}: ttl must be a datetime.timedelta or None, got {ttl!r}")
    if ttl <= timedelta(0):
        raise SpecError(f"{what}: ttl must be positive (or None for no limit), got {ttl}")
    return ttl
