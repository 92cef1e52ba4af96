"""The one timestamp rule: UTC, microsecond precision, naive means UTC (SEMANTICS.md).

Every path that takes rows or times in (offline store, online write, quality checks, push,
the CLI) converts through this module, so the same rows are accepted or refused the same
way everywhere. A value finer than a microsecond is refused, never truncated: round it
first (``Series.dt.floor("us")``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feature_platform.errors import TimestampError

UTC_MICROS = pa.timestamp("us", tz="UTC")
"""The Arrow type every stored timestamp has."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The Unix epoch as an aware UTC datetime (``EPOCH + timedelta(microseconds=n)`` is
:func:`from_micros` inlined, for per-value hot loops)."""
_ROUND_HINT = "timestamps are kept with microsecond precision, so round them (e.g. Series.dt.floor('us'))"


def as_utc(ts: datetime, what: str) -> datetime:
    """``ts`` as an aware UTC datetime; a naive ``ts`` is read as UTC."""
    if not isinstance(ts, datetime):
        raise TimestampError(f"{what} must be a datetime, got {type(ts).__name__} {ts!r}")
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def epoch_micros(ts: datetime) -> int:
    """Microseconds since the Unix epoch of ``ts`` (naive read as UTC; exact integers)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The aware UTC datetime ``value`` microseconds after the Unix epoch (exact)."""
    return EPOCH + timedelta(microseconds=value)


def utc_now_micros() -> int:
    """The wall clock in microseconds since the Unix epoch."""
    return time.time_ns() // 1000


def utc_micros_column(column: pa.ChunkedArray | pa.Array, name: str, where: str) -> pa.ChunkedArray:
    """``column`` as timestamp[us, UTC], or a TimestampError naming ``name`` and ``where``.

    Naive values are read as UTC; aware values keep their instant. Nanosecond values that
    are not whole microseconds are refused rather than silently truncated.
    """
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column], type=column.type)
    kind = column.type
    if not pa.types.is_timestamp(kind):
        raise TimestampError(
            f"Column {name!r} of {where} must be a timestamp, got {kind}; convert it with "
            "pandas.to_datetime(..., utc=True) or pyarrow.compute.cast before the call"
        )
    if kind.unit == "ns":
        try:
            column = pc.cast(column, pa.timestamp("us", tz=kind.tz), safe=True)
        except pa.ArrowInvalid:
            raise TimestampError(
                f"Column {name!r} of {where} has values finer than a microsecond; {_ROUND_HINT}"
            ) from None
    # Arrow stores every timestamp as a count since the epoch; for naive values that count
    # is the wall clock read as UTC, so relabelling the type as UTC is "naive means UTC".
    return column.cast(UTC_MICROS)


def utc_series(column: pd.Series) -> pd.Series | None:
    """A pandas column as UTC timestamps (naive read as UTC), or None when it does not hold
    datetimes at all."""
    if not pd.api.types.is_datetime64_any_dtype(column.dtype):
        return None
    if getattr(column.dt, "tz", None) is None:
        return column.dt.tz_localize("UTC")
    return column.dt.tz_convert("UTC")


def finer_than_micros(column: pd.Series) -> int:
    """How many values of a datetime column are not whole microseconds."""
    return int((column.dropna().dt.nanosecond != 0).sum())
