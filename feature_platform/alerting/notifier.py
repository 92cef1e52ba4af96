"""Posting notifications to an on-call webhook (httpx), with timeouts and retries (tenacity)
that honour the server's ``Retry-After``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit

import httpx
import tenacity

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


@dataclass(frozen=True)
class _Attempt:
    status: int | None
    error: str | None
    retryable: bool
    retry_after: float | None = None


def _retry_after(header: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), if valid."""
    if not header:
        return None
    if header.strip().isdigit():
        return float(header.strip())
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class OnCallNotifier:
    """Posts notifications to one webhook: PagerDuty Events API v2 or a Slack webhook.

    ``routing_key`` (required for PagerDuty) goes only into request bodies: it is never
    logged and never shown by ``repr`` or in errors. Logs show only the URL's scheme and
    host, since Slack webhook paths are secrets too. Each post waits ``timeout_s`` for the
    server (httpx); connection errors, timeouts, 429 and 5xx answers are retried (tenacity)
    up to ``max_attempts`` tries in all, sleeping what the server's ``Retry-After`` asks,
    else ``backoff_s`` x 2^n, at most ``max_backoff_s`` between tries; other 4xx answers
    are not retried. Worst case per notification:
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
        body = self.body(notification)
        attempts = 0

        def post() -> _Attempt:
            nonlocal attempts
            attempts += 1
            outcome = self._post(body)
            if outcome.error is not None:
                logger.warning(
                    "On-call %s webhook %s failed for feature view %r (attempt %d of %d): %s",
                    self.kind, self.endpoint, notification.alert.view, attempts, self.max_attempts, outcome.error,
                )
            return outcome

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_result(lambda outcome: outcome.error is not None and outcome.retryable),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=self._sleep,
        )
        outcome = retrying(post)
        if outcome.error is None:
            logger.info(
                "Sent %s %s for feature view %r to %s (attempt %d)",
                self.kind, notification.action, notification.alert.view, self.endpoint, attempts,
            )
            return DeliveryResult(notification, self.kind, True, attempts, outcome.status)
        if outcome.retryable:
            logger.error(
                "Gave up sending %s %s for feature view %r to %s after %d attempts: %s",
                self.kind, notification.action, notification.alert.view, self.endpoint, attempts, outcome.error,
            )
        return DeliveryResult(notification, self.kind, False, attempts, outcome.status, outcome.error)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """The server's ``Retry-After`` if it sent one, else exponential backoff; at most
        ``max_backoff_s`` either way."""
        backoff = self.backoff_s * 2 ** (state.attempt_number - 1)
        last = state.outcome.result() if state.outcome is not None and not state.outcome.failed else None
        if last is not None and last.retry_after is not None:
            backoff = last.retry_after
        return float(min(backoff, self.max_backoff_s))

    def send_all(self, notifications: Sequence[Notification]) -> list[DeliveryResult]:
        """:meth:`send` each notification in order."""
        return [self.send(n) for n in notifications]

    def _post(self, body: dict[str, object]) -> _Attempt:
        """One POST and what it says about retrying."""
        try:
            response = httpx.post(
                self._url, content=json.dumps(body, default=str), timeout=self.timeout_s,
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException:
            return _Attempt(None, f"timed out after {self.timeout_s}s", retryable=True)
        except httpx.TransportError as failure:
            return _Attempt(None, self._scrub(f"{type(failure).__name__}: {failure}"), retryable=True)
        if response.is_success:
            return _Attempt(response.status_code, None, retryable=False)
        detail = self._scrub(response.text[:300])
        error = f"HTTP {response.status_code} {response.reason_phrase}: {detail}".rstrip(": ")
        retryable = response.status_code == 429 or response.status_code >= 500
        return _Attempt(response.status_code, error, retryable, _retry_after(response.headers.get("Retry-After")))

    def _scrub(self, text: str) -> str:
        """``text`` without the routing key or the full webhook URL (servers may echo them)."""
        for secret in (self._routing_key, self._url):
            if secret:
                text = text.replace(secret, "***")
        return text
