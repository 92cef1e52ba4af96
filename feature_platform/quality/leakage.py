"""The leakage check: no feature row may come from after its partition was materialized."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from feature_platform.errors import MissingColumnError, TimestampError
from feature_platform.quality._frames import Rows, sample_rows, to_frame
from feature_platform.rows.timestamps import as_utc, utc_series


@dataclass(frozen=True)
class LeakageReport:
    """How many rows have an event timestamp later than the materialization time.

    ``samples`` holds up to five such rows (``row`` is the 0-based position in the input).
    Rows with a null event timestamp are not counted here (the validation suite fails them).
    """

    success: bool
    materialized_at: datetime
    row_count: int
    future_row_count: int
    max_event_timestamp: datetime | None
    samples: tuple[dict[str, object], ...] = ()

    def to_metadata(self) -> dict[str, object]:
        """JSON-friendly metadata for a Dagster asset check result."""
        return {
            "success": self.success,
            "materialized_at": self.materialized_at.isoformat(),
            "row_count": self.row_count,
            "future_row_count": self.future_row_count,
            "max_event_timestamp": (
                self.max_event_timestamp.isoformat() if self.max_event_timestamp else None
            ),
            "samples": [dict(s) for s in self.samples],
        }

    def summary(self) -> str:
        """One line: the verdict and the worst offender."""
        if self.success:
            return f"No row of {self.row_count} is later than {self.materialized_at.isoformat()}"
        return (
            f"{self.future_row_count} of {self.row_count} rows have an event_timestamp later than "
            f"the materialization time {self.materialized_at.isoformat()} (latest: "
            f"{self.max_event_timestamp.isoformat() if self.max_event_timestamp else '?'})"
        )


def check_no_future_rows(
    rows: Rows, materialized_at: datetime, *, column: str = "event_timestamp"
) -> LeakageReport:
    """Fail when any row's ``column`` is strictly later than ``materialized_at``.

    A row that happened after the partition was written cannot have been known then: it is
    data from the future, and a point-in-time join could leak it into training. ``rows`` is
    a pandas DataFrame or a pyarrow Table; naive timestamps are read as UTC. Raises
    MissingColumnError / TimestampError when the column is absent or not a timestamp.
    """
    cutoff = as_utc(materialized_at, "materialized_at")
    where = "the rows given to the leakage check"
    frame = to_frame(rows, "Leakage check")
    if column not in frame.columns:
        raise MissingColumnError(column, where, "Pass the feature view's offline rows.")
    stamps = utc_series(frame[column])
    if stamps is None:
        raise TimestampError(
            f"Column {column!r} of the rows given to the leakage check has dtype "
            f"{frame[column].dtype}; it must hold timestamps"
        )
    future = stamps > cutoff
    positions = [int(p) for p in future.to_numpy().nonzero()[0]]
    latest = stamps.max()
    return LeakageReport(
        success=not positions,
        materialized_at=cutoff,
        row_count=len(frame),
        future_row_count=len(positions),
        max_event_timestamp=None if pd.isna(latest) else latest.to_pydatetime(),
        samples=tuple(
            sample_rows(frame.assign(**{column: stamps}), positions, list(frame.columns))
        ),
    )
