"""Argument types shared by the commands."""

from __future__ import annotations

import argparse
from datetime import datetime


def utc_datetime(text: str) -> datetime:
    """A ``YYYY-MM-DD[THH:MM]`` argument as a UTC datetime (naive means UTC)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or datetime (YYYY-MM-DD[THH:MM])") from None
    from feature_platform.rows.timestamps import as_utc  # keeps `--help` fast

    return as_utc(value, text)
