"""Alert levels of the seed (Deep Dive 4) and their on-call priorities."""

from __future__ import annotations

from enum import IntEnum

from feature_platform.errors import ConfigError


class AlertLevel(IntEnum):
    """How bad a feature view's freshness is; higher is worse, so levels compare with ``<``.

    WARNING is P3 (investigate, may self-resolve), CRITICAL is P2 (page on-call), EMERGENCY
    is P1 (materialization failed or the online store is unreachable).
    """

    OK = 0
    WARNING = 1
    CRITICAL = 2
    EMERGENCY = 3

    @property
    def priority(self) -> str | None:
        """The on-call priority (``"P3"``, ``"P2"``, ``"P1"``); None for OK."""
        return _PRIORITY[self]

    @property
    def pagerduty_severity(self) -> str:
        """The PagerDuty Events API v2 severity: P1 critical, P2 error, P3 warning, OK info."""
        return _SEVERITY[self]

    @classmethod
    def parse(cls, value: object) -> AlertLevel:
        """A level from itself, its name (any case) or its number; ConfigError otherwise."""
        if isinstance(value, AlertLevel):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        names = ", ".join(cls.__members__)
        raise ConfigError(f"Unknown alert level {value!r}; use one of {names}")


_PRIORITY = {
    AlertLevel.OK: None,
    AlertLevel.WARNING: "P3",
    AlertLevel.CRITICAL: "P2",
    AlertLevel.EMERGENCY: "P1",
}
_SEVERITY = {
    AlertLevel.OK: "info",
    AlertLevel.WARNING: "warning",
    AlertLevel.CRITICAL: "error",
    AlertLevel.EMERGENCY: "critical",
}
