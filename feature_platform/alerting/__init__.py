"""On-call alerting: deduplicated incidents per feature view, posted to PagerDuty (Events
API v2) or Slack webhooks with retries. Nothing here imports Dagster."""

from feature_platform.alerting.alert import Alert, Observation
from feature_platform.alerting.manager import AlertManager, Incident
from feature_platform.alerting.notification import Notification
from feature_platform.alerting.notifier import DeliveryResult, OnCallNotifier
from feature_platform.alerting.payloads import build_pagerduty_event, build_slack_message

__all__ = [
    "Alert",
    "AlertManager",
    "DeliveryResult",
    "Incident",
    "Notification",
    "Observation",
    "OnCallNotifier",
    "build_pagerduty_event",
    "build_slack_message",
]
