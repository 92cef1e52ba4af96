"""How often each freshness tier's online values are refreshed, and the age that allows.

The seed's decision framework: a promise under a minute is streamed, under an hour gets a
micro-batch every few minutes, the rest is batch (hourly or daily). The Dagster schedules
are generated from these numbers, and a test checks that every tier's worst case (the
cadence plus the measured run time) stays inside its promise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from feature_platform.errors import ConfigError
from feature_platform.specs import FreshnessTier


class RefreshMode(str, Enum):
    """What keeps a tier's online values current."""

    STREAM = "stream"
    """The stream processor applies each pushed event as it arrives."""
    MICRO_BATCH = "micro_batch"
    """Every few minutes: ``dbt build`` of the views' models, then the incremental publish."""
    HOURLY_INCREMENTAL = "hourly_incremental"
    """The incremental publish every hour, after the hourly ``dbt build``."""
    DAILY = "daily"
    """The previous day's partition, materialized offline and online once a day."""


@dataclass(frozen=True)
class Cadence:
    """The refresh cadence of one tier.

    ``every`` is the time between two refreshing runs (zero when streamed); ``offset`` is
    where in that period the run starts (minute of the hour, hour of the day).
    ``publish_lag`` is how long after the data it publishes was captured the refreshing run
    starts: zero when the run builds its own inputs (a micro-batch runs dbt itself), 15
    minutes for the hourly publish that reads what the hourly dbt build made at :00, two
    hours for the daily run of the previous day's partition at 02:00.
    """

    tier: FreshnessTier
    mode: RefreshMode
    every: timedelta
    offset: timedelta = timedelta(0)
    publish_lag: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.every < timedelta(0) or self.offset < timedelta(0) or self.publish_lag < timedelta(0):
            raise ConfigError(f"Cadence of {self.tier.value}: every, offset and publish_lag must not be negative")
        if self.mode is RefreshMode.STREAM and self.every:
            raise ConfigError(f"Cadence of {self.tier.value}: a streamed tier has no period (every=0)")
        if self.mode is not RefreshMode.STREAM:
            cron_for(self.every, self.offset)  # raises when the period cannot be a cron expression

    @property
    def cron(self) -> str | None:
        """The cron expression (UTC) of the refreshing run; None when streamed."""
        if self.mode is RefreshMode.STREAM:
            return None
        return cron_for(self.every, self.offset)

    def worst_case_age(self, run_time: timedelta) -> timedelta:
        """The oldest a value can be when read, for data captured just after a run.

        It waits a whole period for the next capture, then ``publish_lag`` until the
        publishing run starts, then that run's ``run_time``. For a streamed tier
        ``run_time`` is the processor's event-to-readable latency.
        """
        return self.every + self.publish_lag + run_time

    def fits(self, run_time: timedelta) -> bool:
        """Whether ``worst_case_age(run_time)`` is inside the tier's promise."""
        return self.worst_case_age(run_time) < self.tier.expected_freshness


def cron_for(every: timedelta, offset: timedelta = timedelta(0)) -> str:
    """A UTC cron expression firing every ``every``, shifted by ``offset`` into the period.

    ``every`` must divide an hour (in whole minutes), be one hour, or be one day; ``offset``
    is whole minutes and shorter than ``every``.
    """
    minutes, rest = divmod(int(every.total_seconds()), 60)
    offset_minutes, offset_rest = divmod(int(offset.total_seconds()), 60)
    if rest or offset_rest or minutes <= 0 or offset >= every:
        raise ConfigError(
            f"A schedule every {every} at offset {offset}: use whole minutes, a positive period and an "
            "offset shorter than the period"
        )
    if minutes == 24 * 60:
        return f"{offset_minutes % 60} {offset_minutes // 60} * * *"
    if minutes == 60:
        return f"{offset_minutes} * * * *"
    if 60 % minutes == 0:
        return f"{offset_minutes}-59/{minutes} * * * *" if offset_minutes else f"*/{minutes} * * * *"
    raise ConfigError(f"A schedule every {every}: the period must divide an hour, or be an hour or a day")


MICRO_BATCH_EVERY = timedelta(minutes=5)
# Minute 3, 8, 13, ...: clear of the hourly dbt build (:00), the hourly partitions (:10) and
# the hourly publish (:15), which write or read the same DuckDB warehouse file.
MICRO_BATCH_OFFSET = timedelta(minutes=3)
HOURLY_PUBLISH_OFFSET = timedelta(minutes=15)
DAILY_RUN_OFFSET = timedelta(hours=2)

CADENCES: dict[FreshnessTier, Cadence] = {
    FreshnessTier.REAL_TIME: Cadence(FreshnessTier.REAL_TIME, RefreshMode.STREAM, timedelta(0)),
    FreshnessTier.NEAR_REAL_TIME: Cadence(
        FreshnessTier.NEAR_REAL_TIME, RefreshMode.MICRO_BATCH, MICRO_BATCH_EVERY, offset=MICRO_BATCH_OFFSET
    ),
    FreshnessTier.BATCH: Cadence(
        FreshnessTier.BATCH, RefreshMode.HOURLY_INCREMENTAL, timedelta(hours=1),
        offset=HOURLY_PUBLISH_OFFSET, publish_lag=HOURLY_PUBLISH_OFFSET,
    ),
    FreshnessTier.STATIC: Cadence(
        FreshnessTier.STATIC, RefreshMode.DAILY, timedelta(days=1),
        offset=DAILY_RUN_OFFSET, publish_lag=DAILY_RUN_OFFSET,
    ),
}


def cadence_for(tier: FreshnessTier) -> Cadence:
    """The cadence of ``tier``."""
    return CADENCES[FreshnessTier(tier)]
