"""Reading timestamps as UTC with microsecond precision (SEMANTICS.md: naive means UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from feature_platform.errors import TimestampError

UTC_MICROS = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(ts: datetime, what: str) -> datetime:
    """``ts`` as an aware UTC datetime; a naive ``ts`` is read as UTC."""
    if not isinstance(ts, datetime):
        raise TimestampError(f"{what} must be a datetime, got {type(ts).__name__} {ts!r}")
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def epoch_micros(ts: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
                f"Column {name!r} of {where} has values finer than a microsecond; timestamps are "
                "kept with microsecond precision, so round them (e.g. Series.dt.floor('us'))"
            ) from None
    # Arrow stores every timestamp as a count since the epoch; for naive values that count
    # is the wall clock read as UTC, so relabelling the type as UTC is "naive means UTC".
    return column.cast(UTC_MICROS)


def from_micros(value: int) -> datetime:
    """The aware UTC datetime ``value`` microseconds after the Unix epoch (exact)."""
    return _EPOCH + timedelta(microseconds=value)
