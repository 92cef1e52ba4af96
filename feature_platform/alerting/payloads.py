"""Webhook bodies: PagerDuty Events API v2 events and Slack-compatible messages."""

from __future__ import annotations

from typing import Literal

from feature_platform.alerting.alert import Alert
from feature_platform.monitoring import AlertLevel

Action = Literal["trigger", "resolve"]

# PagerDuty truncates longer summaries; cut them ourselves so the end is marked.
_PD_SUMMARY_MAX = 1024
_SLACK_COLORS = {
    AlertLevel.OK: "#2eb67d",
    AlertLevel.WARNING: "#ecb22e",
    AlertLevel.CRITICAL: "#e01e5a",
    AlertLevel.EMERGENCY: "#8b0000",
}


def dedup_key_for(view: str, prefix: str = "feature_platform") -> str:
    """The incident key of a feature view: one open incident per view at a time."""
    return f"{prefix}/{view}"


def build_pagerduty_event(
    alert: Alert,
    routing_key: str,
    *,
    action: Action = "trigger",
    dedup_key: str | None = None,
    source: str = "feature_platform",
) -> dict[str, object]:
    """A PagerDuty Events API v2 body for ``alert``.

    ``trigger`` events carry ``payload`` {summary, source, severity (P1 critical, P2 error,
    P3 warning), component (the view), group, class, custom_details}; ``resolve`` events
    only need the routing key and the incident's ``dedup_key`` (default: one key per view).
    """
    event: dict[str, object] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key or dedup_key_for(alert.view),
    }
    if action == "trigger":
        summary = alert.summary
        if len(summary) > _PD_SUMMARY_MAX:
            summary = summary[: _PD_SUMMARY_MAX - 3] + "..."
        event["payload"] = {
            "summary": summary,
            "source": source,
            "severity": alert.level.pagerduty_severity,
            "component": alert.view,
            "group": alert.group,
            "class": alert.alert_class,
            "custom_details": {
                "level": alert.level.name,
                "priority": alert.level.priority,
                **alert.details,
            },
        }
    return event


def build_slack_message(alert: Alert, *, action: Action = "trigger") -> dict[str, object]:
    """A Slack incoming-webhook body: a ``text`` headline and one attachment of details."""
    if action == "resolve":
        # The healthy observation's own summary: a feature view, a stream view or the shards.
        headline = f":white_check_mark: RESOLVED: {alert.summary}"
        color = _SLACK_COLORS[AlertLevel.OK]
    else:
        headline = f":rotating_light: {alert.summary}"
        color = _SLACK_COLORS[alert.level]
    fields = [{"title": "Level", "value": alert.level.name, "short": True}]
    fields += [
        {"title": str(k), "value": str(v), "short": True}
        for k, v in alert.details.items()
        if v is not None and not isinstance(v, (list, dict))
    ]
    return {
        "text": headline,
        "attachments": [{"color": color, "fallback": headline, "fields": fields}],
    }
