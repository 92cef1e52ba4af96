"""What an alert says about one feature view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias, cast

from feature_platform.errors import ConfigError
from feature_platform.monitoring import AlertLevel, StalenessReport


@dataclass(frozen=True)
class Alert:
    """One observation of a feature view's health, at ``level``.

    ``summary`` is the one-line headline (generated when empty); ``details`` are
    JSON-friendly facts shown to on-call (PagerDuty ``custom_details``, Slack fields).
    ``group`` and ``alert_class`` become PagerDuty's ``group`` and ``class``.
    """

    view: str
    level: AlertLevel
    summary: str = ""
    details: Mapping[str, object] = field(default_factory=dict)
    group: str = "feature_platform"
    alert_class: str = "feature_freshness"

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "level", AlertLevel.parse(self.level))
        except ValueError as error:
            raise ConfigError(f"Alert for feature view {self.view!r}: {error}") from None
        object.__setattr__(self, "details", dict(self.details))
        if not self.summary:
            priority = f"[{self.level.priority}] " if self.level.priority else ""
            state = "is healthy" if self.level is AlertLevel.OK else f"is {self.level.name}"
            object.__setattr__(self, "summary", f"{priority}Feature view {self.view!r} {state}")

    @classmethod
    def from_staleness(cls, report: StalenessReport) -> Alert:
        """The alert of a staleness report: its level, first reason and metrics."""
        priority = f"[{report.level.priority}] " if report.level.priority else ""
        reason = f": {report.reasons[0]}" if report.reasons else ""
        return cls(
            view=report.view,
            level=report.level,
            summary=f"{priority}Feature view {report.view!r} {report.level.name}{reason}",
            details=report.to_metadata(),
        )

    @classmethod
    def coerce(cls, observation: Observation) -> Alert:
        """An Alert from an Alert or a ``(view, level, details)`` tuple (level: enum or name)."""
        if isinstance(observation, Alert):
            return observation
        if isinstance(observation, tuple) and len(observation) == 3:
            view, level, details = observation
            # __post_init__ parses a level name and turns a bad one into a ConfigError.
            return cls(view=str(view), level=cast(AlertLevel, level), details=dict(details))
        raise ConfigError(
            f"Alert observation {observation!r} must be an Alert or a (view, level, details) tuple"
        )


Observation: TypeAlias = Alert | tuple[str, AlertLevel | str, Mapping[str, object]]
