"""What the incident manager asks notifiers to deliver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from feature_platform.alerting.alert import Alert
from feature_platform.monitoring import AlertLevel


@dataclass(frozen=True)
class Notification:
    """Something to tell on-call: a new incident, an escalation, or a resolve.

    ``reason`` is ``"new"``, ``"escalation"`` or ``"resolved"``; ``previous_level`` the
    incident's peak before this notification (None for a new incident).
    """

    action: Literal["trigger", "resolve"]
    alert: Alert
    dedup_key: str
    reason: Literal["new", "escalation", "resolved"]
    previous_level: AlertLevel | None = None
