"""Durations as people write them: "30 days", "1 hour 30 minutes", "15 minutes"."""

from __future__ import annotations

from datetime import timedelta

_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def human_duration(value: timedelta | float | None, *, empty: str = "none") -> str:
    """``value`` (a timedelta or seconds) in days, hours, minutes and seconds, largest first;
    fractions of a second are kept only below one minute (``"0.25 seconds"``)."""
    if value is None:
        return empty
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 60 and seconds != int(seconds):
        return f"{sign}{seconds:.3g} seconds"
    whole, parts = round(seconds), []
    for name, size in _UNITS:
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    return sign + (" ".join(parts) if parts else "0 seconds")
