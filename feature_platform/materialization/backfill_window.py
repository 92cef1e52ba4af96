"""The off-peak window for large backfills (the seed's "off-peak execution (2am-6am)").

A deployment sets a daily UTC window such as ``02:00-06:00`` (it may wrap midnight:
``22:00-04:00``). A large backfill launched outside it either waits for the window to open
or runs now at a reduced online write rate; either way it says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import Enum
from time import sleep as wait

from feature_platform.errors import ConfigError
from feature_platform.settings import BackfillSettings

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class OutsideWindow(str, Enum):
    """What a large backfill does when launched outside the window."""

    WAIT = "wait"
    REDUCED = "reduced"


@dataclass(frozen=True)
class BackfillWindow:
    """A daily UTC window ``[start, end)``; ``start == end`` would be empty and is refused."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str, *, setting: str = "backfill window") -> BackfillWindow:
        """``"HH:MM-HH:MM"`` (UTC); a ConfigError names ``setting`` and the format otherwise."""
        match = _WINDOW.match(text)
        if not match:
            raise ConfigError(f"{setting} {text!r} is not a window; use HH:MM-HH:MM in UTC, e.g. 02:00-06:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ConfigError(f"{setting} {text!r} has an impossible time; hours 00-23, minutes 00-59")
        window = cls(time(h1, m1), time(h2, m2))
        if window.start == window.end:
            raise ConfigError(f"{setting} {text!r} is empty; start and end must differ")
        return window

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} UTC"

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (UTC) falls inside the window."""
        now = moment.astimezone(UTC).time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def next_opening(self, moment: datetime) -> datetime:
        """The next time the window opens at or after ``moment`` (``moment`` itself if open)."""
        moment = moment.astimezone(UTC)
        if self.contains(moment):
            return moment
        opening = moment.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        return opening if opening > moment else opening + timedelta(days=1)


@dataclass(frozen=True)
class OffPeak:
    """A deployment's backfill window and what a large backfill does outside it: a backfill
    of more than ``large_partitions`` partitions is large."""

    window: BackfillWindow
    outside: OutsideWindow = OutsideWindow.REDUCED
    reduced_rows_per_s: float = 500.0
    large_partitions: int = 7

    @classmethod
    def from_settings(cls, settings: BackfillSettings, *, setting: str = "backfill.window") -> OffPeak | None:
        """The deployment's off-peak rule (``backfill`` in ``feature_platform.yaml``); None
        when no window is set. ``setting`` names the window's source in a parse error."""
        if settings.window is None:
            return None
        return cls(
            BackfillWindow.parse(settings.window, setting=setting),
            OutsideWindow(settings.outside_window), settings.reduced_rate, settings.large_partitions,
        )

    def hold(
        self,
        partitions: int,
        what: str,
        *,
        log: Callable[[str], None],
        now: datetime | None = None,
        sleep: Callable[[float], None] = wait,
    ) -> float | None:
        """Apply the rule to a backfill of ``partitions`` partitions (``what``, for the
        message) launched at ``now``: log the decision, sleep until the window opens when
        the backfill waits, and return the rows/s its online writes are held to (None: the
        normal rate)."""
        now = now or datetime.now(UTC)
        decision = decide(
            self.window, now, large=partitions > self.large_partitions, outside=self.outside,
            reduced_rows_per_s=self.reduced_rows_per_s, what=f"{what} ({partitions} partitions)",
        )
        if decision.message:
            log(decision.message)
        if decision.wait_until is not None:
            sleep((decision.wait_until - now).total_seconds())
        return decision.rate_limit


@dataclass(frozen=True)
class WindowDecision:
    """How a backfill launched at ``now`` proceeds: at its normal rate (``rate_limit``
    None), held to ``rate_limit`` rows/s, or after ``wait_until``; ``message`` says which."""

    rate_limit: float | None
    wait_until: datetime | None
    message: str | None


def decide(
    window: BackfillWindow | None,
    now: datetime,
    *,
    large: bool,
    outside: OutsideWindow,
    reduced_rows_per_s: float,
    what: str,
) -> WindowDecision:
    """What a backfill (``what``, for the message) launched at ``now`` does.

    No window, a small backfill, or a moment inside the window: as usual, no message.
    """
    if window is None or not large or window.contains(now):
        return WindowDecision(None, None, None)
    if outside is OutsideWindow.WAIT:
        opening = window.next_opening(now)
        return WindowDecision(
            None, opening,
            f"{what} is large and {now:%H:%M} UTC is outside the backfill window {window}: "
            f"waiting until {opening.isoformat()} (--outside-window reduced runs it now at a lower rate)",
        )
    return WindowDecision(
        reduced_rows_per_s, None,
        f"{what} is large and {now:%H:%M} UTC is outside the backfill window {window}: "
        f"running now with the online writes held to {reduced_rows_per_s:,.0f} rows/s",
    )
