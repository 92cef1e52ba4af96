"""Incident bookkeeping: one page per incident, re-paged only on escalation, resolved once."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feature_platform.alerting.alert import Alert, Observation
from feature_platform.alerting.notification import Notification
from feature_platform.alerting.notifier import DeliveryResult, OnCallNotifier
from feature_platform.alerting.payloads import dedup_key_for
from feature_platform.errors import TerminalError
from feature_platform.monitoring import AlertLevel

logger = logging.getLogger(__name__)

_STATE_VERSION = 1


class AlertStateError(TerminalError, ValueError):
    """A serialized alert state cannot be read."""


@dataclass(frozen=True)
class Incident:
    """An open incident of one view: its key, the highest level paged, when it opened."""

    view: str
    dedup_key: str
    peak: AlertLevel
    opened_at: datetime
    updated_at: datetime


class AlertManager:
    """Turns observations of view health into the notifications on-call must get.

    Per view there is at most one open incident, keyed ``<prefix>/<view>``. A view that is
    not OK opens one (a trigger); while it is open, a trigger is sent again only when the
    level rises above the highest level paged so far (an escalation, same key, higher
    severity), so flapping between WARNING and CRITICAL pages once per rise, not per tick.
    An OK observation of a view with an open incident resolves it. Views not observed in
    a call keep their state. The state round-trips through :meth:`to_json` (e.g. a Dagster
    sensor cursor).
    """

    def __init__(
        self, incidents: Sequence[Incident] = (), *, dedup_prefix: str = "feature_platform"
    ) -> None:
        self.dedup_prefix = dedup_prefix
        self._incidents = {i.view: i for i in incidents}

    @property
    def incidents(self) -> dict[str, Incident]:
        """The open incidents by view name (a copy)."""
        return dict(self._incidents)

    def plan(self, observations: Sequence[Observation], now: datetime) -> list[Notification]:
        """The notifications ``observations`` call for, without changing the state.

        Several observations of one view count as the worst of them.
        """
        worst: dict[str, Alert] = {}
        for observation in observations:
            alert = Alert.coerce(observation)
            if alert.view not in worst or alert.level > worst[alert.view].level:
                worst[alert.view] = alert
        notifications = []
        for view, alert in worst.items():
            open_incident = self._incidents.get(view)
            if alert.level is AlertLevel.OK:
                if open_incident is not None:
                    notifications.append(
                        Notification(
                            "resolve",
                            alert,
                            open_incident.dedup_key,
                            "resolved",
                            open_incident.peak,
                        )
                    )
            elif open_incident is None:
                key = dedup_key_for(view, self.dedup_prefix)
                notifications.append(Notification("trigger", alert, key, "new"))
            elif alert.level > open_incident.peak:
                notifications.append(
                    Notification(
                        "trigger", alert, open_incident.dedup_key, "escalation", open_incident.peak
                    )
                )
        return notifications

    def commit(self, notifications: Sequence[Notification], now: datetime) -> None:
        """Record that ``notifications`` reached on-call."""
        at = _utc(now)
        for n in notifications:
            view = n.alert.view
            if n.action == "resolve":
                self._incidents.pop(view, None)
                continue
            previous = self._incidents.get(view)
            self._incidents[view] = Incident(
                view=view,
                dedup_key=n.dedup_key,
                peak=n.alert.level,
                opened_at=previous.opened_at if previous else at,
                updated_at=at,
            )

    def process(self, observations: Sequence[Observation], now: datetime) -> list[Notification]:
        """Plan and commit in one step: the notifications to send, state already updated."""
        notifications = self.plan(observations, now)
        self.commit(notifications, now)
        return notifications

    def send(
        self,
        observations: Sequence[Observation],
        now: datetime,
        notifiers: OnCallNotifier | Sequence[OnCallNotifier],
    ) -> list[DeliveryResult]:
        """Plan, deliver through every notifier, and commit what every notifier delivered.

        A notification some notifier failed to deliver is not committed, so the next call
        plans it again (PagerDuty's dedup key makes the repeat harmless). Never raises for a
        failing webhook: failures are logged by the notifier and returned.
        """
        targets = [notifiers] if not isinstance(notifiers, Sequence) else list(notifiers)
        results: list[DeliveryResult] = []
        delivered = []
        for notification in self.plan(observations, now):
            outcomes = [target.send(notification) for target in targets]
            results += outcomes
            if all(o.ok for o in outcomes):
                delivered.append(notification)
        self.commit(delivered, now)
        return results

    def to_json(self) -> str:
        """The state as a compact JSON string."""
        return json.dumps(
            {
                "version": _STATE_VERSION,
                "dedup_prefix": self.dedup_prefix,
                "incidents": [
                    {
                        "view": i.view,
                        "dedup_key": i.dedup_key,
                        "peak": i.peak.name,
                        "opened_at": i.opened_at.isoformat(),
                        "updated_at": i.updated_at.isoformat(),
                    }
                    for i in self._incidents.values()
                ],
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> AlertManager:
        """The state :meth:`to_json` wrote; None or ``""`` is the empty state.

        Raises AlertStateError when ``text`` is not such a state.
        """
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("version") != _STATE_VERSION:
                raise ValueError(f"unsupported version {data.get('version')!r}")
            incidents = [
                Incident(
                    view=str(i["view"]),
                    dedup_key=str(i["dedup_key"]),
                    peak=AlertLevel.parse(i["peak"]),
                    opened_at=datetime.fromisoformat(i["opened_at"]),
                    updated_at=datetime.fromisoformat(i["updated_at"]),
                )
                for i in data["incidents"]
            ]
            return cls(incidents, dedup_prefix=str(data["dedup_prefix"]))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise AlertStateError(
                f"Alert state is not a JSON state written by AlertManager.to_json ({error}); "
                "reset the sensor cursor to start from no open incidents"
            ) from None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> AlertManager:
        """Like :meth:`from_json`, but an unreadable state is logged and replaced by the empty
        one, so a sensor keeps running (open incidents are re-triggered under the same keys)."""
        try:
            return cls.from_json(cursor)
        except AlertStateError as error:
            logger.warning("Starting with no open incidents: %s", error)
            return cls()


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
