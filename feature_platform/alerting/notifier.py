"""Posting notifications to an on-call webhook, with timeouts and retries."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from feature_platform.alerting.notification import Notification
from feature_platform.alerting.payloads import build_pagerduty_event, build_slack_message
from feature_platform.errors import ConfigError

logger = logging.getLogger(__name__)

WebhookKind = Literal["pagerduty", "slack"]
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class DeliveryResult:
    """How posting one notification went: ``ok`` after ``attempts`` tries, the last HTTP
    ``status`` (None when no response came) and the last ``error`` (secrets removed)."""

    notification: Notification
    kind: WebhookKind
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class OnCallNotifier:
    """Posts notifications to one webhook: PagerDuty Events API v2 or a Slack webhook.

    ``routing_key`` (required for PagerDuty) goes only into request bodies: it is never
    logged and never shown by ``repr`` or in errors. Logs show only the URL's scheme and
    host, since Slack webhook paths are secrets too. Each post waits ``timeout_s`` for the
    server; connection errors, timeouts, 429 and 5xx answers are retried up to
    ``max_attempts`` tries in all, sleeping ``backoff_s`` x 2^n (at most ``max_backoff_s``)
    between tries; other 4xx answers are not retried. Worst case per notification:
    ``max_attempts * timeout_s`` plus the backoffs; keep it inside the sensor's time budget.
    """

    def __init__(
        self,
        webhook_url: str,
        kind: WebhookKind = "pagerduty",
        routing_key: str | None = None,
        *,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        source: str = "feature_platform",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"On-call webhook URL must be an http(s) URL, got one with scheme "
                f"{parts.scheme!r} (for PagerDuty use {PAGERDUTY_EVENTS_URL})"
            )
        if kind not in ("pagerduty", "slack"):
            raise ConfigError(f"On-call webhook kind must be 'pagerduty' or 'slack', got {kind!r}")
        if kind == "pagerduty" and not routing_key:
            raise ConfigError(
                "A PagerDuty notifier needs the integration's routing key; set it (e.g. from "
                "an environment variable such as PAGERDUTY_ROUTING_KEY)"
            )
        if timeout_s <= 0 or max_attempts < 1 or backoff_s < 0:
            raise ConfigError(
                "On-call notifier: timeout_s must be > 0, max_attempts >= 1 and backoff_s >= 0"
            )
        self._url = webhook_url
        self._routing_key = routing_key
        self.kind: WebhookKind = kind
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.source = source
        self._sleep = sleep

    def __repr__(self) -> str:
        key = "'***'" if self._routing_key else "None"
        return (
            f"OnCallNotifier(endpoint={self.endpoint!r}, kind={self.kind!r}, routing_key={key}, "
            f"timeout_s={self.timeout_s}, max_attempts={self.max_attempts})"
        )

    def body(self, notification: Notification) -> dict[str, object]:
        """The JSON body this notifier posts for ``notification``."""
        if self.kind == "pagerduty":
            assert self._routing_key is not None  # checked in __init__
            return build_pagerduty_event(
                notification.alert,
                self._routing_key,
                action=notification.action,
                dedup_key=notification.dedup_key,
                source=self.source,
            )
        return build_slack_message(notification.alert, action=notification.action)

    def send(self, notification: Notification) -> DeliveryResult:
        """Post ``notification``, retrying as configured; never raises for delivery failures."""
        data = json.dumps(self.body(notification), default=str).encode()
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.max_attempts + 1):
            status, error, retryable = self._post(data)
            if error is None:
                logger.info(
                    "Sent %s %s for feature view %r to %s (attempt %d)",
                    self.kind,
                    notification.action,
                    notification.alert.view,
                    self.endpoint,
                    attempt,
                )
                return DeliveryResult(notification, self.kind, True, attempt, status)
            logger.warning(
                "On-call %s webhook %s failed for feature view %r (attempt %d of %d): %s",
                self.kind,
                self.endpoint,
                notification.alert.view,
                attempt,
                self.max_attempts,
                error,
            )
            if not retryable:
                return DeliveryResult(notification, self.kind, False, attempt, status, error)
            if attempt < self.max_attempts:
                self._sleep(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))
        logger.error(
            "Gave up sending %s %s for feature view %r to %s after %d attempts: %s",
            self.kind,
            notification.action,
            notification.alert.view,
            self.endpoint,
            self.max_attempts,
            error,
        )
        return DeliveryResult(notification, self.kind, False, self.max_attempts, status, error)

    def send_all(self, notifications: Sequence[Notification]) -> list[DeliveryResult]:
        """:meth:`send` each notification in order."""
        return [self.send(n) for n in notifications]

    def _post(self, data: bytes) -> tuple[int | None, str | None, bool]:
        """One POST: (status, error or None, whether a retry may help)."""
        request = urllib.request.Request(
            self._url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, None, False
        except urllib.error.HTTPError as answer:
            detail = self._scrub(answer.read(300).decode("utf-8", "replace"))
            error = f"HTTP {answer.code} {answer.reason}: {detail}".rstrip(": ")
            return answer.code, error, answer.code == 429 or answer.code >= 500
        except (TimeoutError, urllib.error.URLError, OSError) as failure:
            reason = getattr(failure, "reason", failure)
            if isinstance(reason, TimeoutError) or isinstance(failure, TimeoutError):
                return None, f"timed out after {self.timeout_s}s", True
            return None, self._scrub(f"{type(failure).__name__}: {reason}"), True

    def _scrub(self, text: str) -> str:
        """``text`` without the routing key or the full webhook URL (servers may echo them)."""
        for secret in (self._routing_key, self._url):
            if secret:
                text = text.replace(secret, "***")
        return text
