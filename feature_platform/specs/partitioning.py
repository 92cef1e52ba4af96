"""Time partitioning of feature views: daily or hourly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum


class Partitioning(str, Enum):
    """How a feature view's offline table is cut into partitions by event time."""

    DAILY = "daily"
    HOURLY = "hourly"

    @property
    def step(self) -> timedelta:
        """The length of one partition."""
        return timedelta(days=1) if self is Partitioning.DAILY else timedelta(hours=1)

    @property
    def key_format(self) -> str:
        """strftime format of a partition key (Dagster's: ``2026-01-15`` / ``2026-01-15-03:00``)."""
        return "%Y-%m-%d" if self is Partitioning.DAILY else "%Y-%m-%d-%H:%M"

    def floor(self, ts: datetime) -> datetime:
        """The start of the partition that contains ``ts`` (UTC)."""
        ts = ts.astimezone(UTC)
        if self is Partitioning.DAILY:
            return ts.replace(hour=0, minute=0, second=0, microsecond=0)
        return ts.replace(minute=0, second=0, microsecond=0)

    def key_for(self, ts: datetime) -> str:
        """The partition key of the partition that contains ``ts``."""
        return self.floor(ts).strftime(self.key_format)

    def window_for_key(self, key: str) -> tuple[datetime, datetime]:
        """The ``[start, end)`` event-time window of partition ``key`` (UTC)."""
        start = datetime.strptime(key, self.key_format).replace(tzinfo=UTC)
        return start, start + self.step
