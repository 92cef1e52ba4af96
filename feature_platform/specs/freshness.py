"""Freshness SLA tiers (the seed's Deep Dive 4)."""

from __future__ import annotations

from datetime import timedelta
from enum import Enum


class FreshnessTier(str, Enum):
    """How fresh a feature view's values must be.

    ``expected_freshness`` is the tier's promise: the age of the newest value beyond which
    the view counts as late. STATIC views change rarely; their promise is a week.
    """

    REAL_TIME = "real_time"
    NEAR_REAL_TIME = "near_real_time"
    BATCH = "batch"
    STATIC = "static"

    @property
    def expected_freshness(self) -> timedelta:
        """The age within which this tier's values are expected to be."""
        return _EXPECTED[self]


class StalenessKind(str, Enum):
    """What "stale" means for a view's values (SEMANTICS.md, Staleness).

    * ``SNAPSHOT``: a value holds until it changes (a profile). Staleness is the time since
      the platform last confirmed it: the materialization lag. An old event time is not stale.
    * ``EVENT``: latest-value views, a row per event. Staleness is now minus the newest event.
    * ``WINDOWED_AGGREGATE``: aggregates over a window, exact when computed. Staleness is the
      time since they were computed (the last materialization, or for streamed tiles the
      newest created time the processor wrote).
    """

    SNAPSHOT = "snapshot"
    EVENT = "event"
    WINDOWED_AGGREGATE = "windowed_aggregate"


_EXPECTED = {
    FreshnessTier.REAL_TIME: timedelta(minutes=1),
    FreshnessTier.NEAR_REAL_TIME: timedelta(minutes=15),
    FreshnessTier.BATCH: timedelta(hours=24),
    FreshnessTier.STATIC: timedelta(days=7),
}
