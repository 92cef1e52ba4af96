"""Alerting end to end against a real local HTTP server."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from feature_platform.alerting import (
    Alert,
    AlertManager,
    OnCallNotifier,
    build_pagerduty_event,
    build_slack_message,
)
from feature_platform.alerting.manager import AlertStateError
from feature_platform.errors import ConfigError
from feature_platform.monitoring import AlertLevel, compute_staleness
from feature_platform.specs import (
    Entity,
    Feature,
    FeatureView,
    FreshnessTier,
    TableSource,
    ValueType,
)
from feature_platform_tests.alerting.webhook_server import webhook_server

ROUTING_KEY = "R0UTING-KEY-sup3r-s3cret-0123456789"
NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)


def notifier(url: str, **kwargs: object) -> OnCallNotifier:
    options: dict[str, object] = {"timeout_s": 2.0, "max_attempts": 3, "backoff_s": 0.01}
    options.update(kwargs)
    return OnCallNotifier(url, "pagerduty", ROUTING_KEY, **options)  # type: ignore[arg-type]


def test_pagerduty_body_shape_from_a_real_staleness_report() -> None:
    view = FeatureView(
        name="sessions",
        entity=Entity("user", {"user_id": ValueType.INT64}),
        features=[Feature("x", ValueType.FLOAT64)],
        source=TableSource("t"),
        tier=FreshnessTier.NEAR_REAL_TIME,
    )
    report = compute_staleness(
        view,
        now=NOW,
        offline_max_event_ts=NOW - timedelta(hours=2),
        online_event_timestamps=[NOW - timedelta(hours=2)],
        last_materialization=NOW - timedelta(minutes=10),
    )
    alert = Alert.from_staleness(report)
    with webhook_server() as server:
        manager = AlertManager()
        results = manager.send([alert], NOW, notifier(server.url))
        assert [r.ok for r in results] == [True]
        (body,) = server.bodies
    assert body["routing_key"] == ROUTING_KEY
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "feature_platform/sessions"
    payload = body["payload"]
    assert isinstance(payload, dict)
    assert set(payload) == {
        "summary",
        "source",
        "severity",
        "component",
        "group",
        "class",
        "custom_details",
    }
    assert payload["severity"] == "error"  # CRITICAL is P2
    assert payload["summary"].startswith("[P2] Feature view 'sessions' CRITICAL: ")
    assert payload["component"] == "sessions"
    assert payload["source"] == "feature_platform"
    details = payload["custom_details"]
    assert details["level"] == "CRITICAL" and details["priority"] == "P2"
    assert details["online_feature_lag"] == "2 hours"


def test_dedup_escalation_and_resolve() -> None:
    with webhook_server() as server:
        target = notifier(server.url)
        manager = AlertManager()
        manager.send([("orders", AlertLevel.WARNING, {"lag": 1})], NOW, target)
        manager.send([("orders", "warning", {"lag": 2})], NOW + timedelta(minutes=1), target)
        assert len(server.bodies) == 1  # same level again: no second page
        manager.send([("orders", AlertLevel.CRITICAL, {})], NOW + timedelta(minutes=2), target)
        manager.send([("orders", AlertLevel.WARNING, {})], NOW + timedelta(minutes=3), target)
        manager.send([("orders", AlertLevel.CRITICAL, {})], NOW + timedelta(minutes=4), target)
        assert len(server.bodies) == 2  # de-escalation and return to the peak do not page
        manager.send([("orders", AlertLevel.OK, {})], NOW + timedelta(minutes=5), target)
        manager.send([("orders", AlertLevel.OK, {})], NOW + timedelta(minutes=6), target)
        bodies = list(server.bodies)
    assert [b["event_action"] for b in bodies] == ["trigger", "trigger", "resolve"]
    assert [b.get("payload", {}).get("severity") for b in bodies] == ["warning", "error", None]  # type: ignore[union-attr]
    assert {b["dedup_key"] for b in bodies} == {"feature_platform/orders"}
    assert manager.incidents == {}


def test_state_round_trips_through_json_between_ticks() -> None:
    manager = AlertManager()
    first = manager.process([("a", AlertLevel.WARNING, {}), ("b", AlertLevel.OK, {})], NOW)
    assert [(n.alert.view, n.reason) for n in first] == [("a", "new")]
    restored = AlertManager.from_json(manager.to_json())
    assert restored.incidents == manager.incidents
    assert restored.process([("a", AlertLevel.WARNING, {})], NOW) == []
    (escalation,) = restored.process([("a", AlertLevel.EMERGENCY, {})], NOW)
    assert escalation.reason == "escalation" and escalation.previous_level is AlertLevel.WARNING
    assert restored.incidents["a"].opened_at == NOW
    assert AlertManager.from_json(None).incidents == {}
    with pytest.raises(AlertStateError, match="reset the sensor cursor"):
        AlertManager.from_json("{not json")
    assert AlertManager.from_cursor("garbage").incidents == {}


def test_worst_observation_of_a_view_wins() -> None:
    manager = AlertManager()
    (n,) = manager.process(
        [("a", AlertLevel.WARNING, {}), ("a", AlertLevel.EMERGENCY, {}), ("a", AlertLevel.OK, {})],
        NOW,
    )
    assert n.alert.level is AlertLevel.EMERGENCY


def test_server_error_then_success_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with webhook_server(statuses=[500, 200]) as server:
        (result,) = AlertManager().send([("a", AlertLevel.CRITICAL, {})], NOW, notifier(server.url))
        assert server.requests == 2
        assert len(server.bodies) == 1
    assert result.ok and result.attempts == 2 and result.status == 200
    assert "HTTP 500" in caplog.text
    assert ROUTING_KEY not in caplog.text


@pytest.mark.parametrize(("header", "expected"), [("2", [2.0, 2.0]), ("120", [5.0, 5.0]), (None, [0.01, 0.02])])
def test_rate_limited_posts_wait_what_retry_after_asks(header: str | None, expected: list[float]) -> None:
    """429 with Retry-After: the wait is the server's (capped by max_backoff_s), else backoff."""
    slept: list[float] = []
    with webhook_server(statuses=[429, 429, 200], retry_after=header) as server:
        target = notifier(server.url, max_backoff_s=5.0, sleep=slept.append)
        (result,) = AlertManager().send([("a", AlertLevel.CRITICAL, {})], NOW, target)
    assert result.ok and result.attempts == 3 and server.requests == 3
    assert slept == pytest.approx(expected)


def test_failures_are_reported_not_committed_and_retried_next_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    manager = AlertManager()
    with webhook_server(statuses=[503, 503]) as server:
        (failed,) = manager.send(
            [("a", AlertLevel.WARNING, {})], NOW, notifier(server.url, max_attempts=2)
        )
        assert not failed.ok and failed.attempts == 2 and failed.status == 503
        assert manager.incidents == {}
        (again,) = manager.send([("a", AlertLevel.WARNING, {})], NOW, notifier(server.url))
        assert again.ok and len(server.bodies) == 1
    assert "Gave up sending" in caplog.text
    assert ROUTING_KEY not in caplog.text


def test_client_errors_are_not_retried() -> None:
    with webhook_server(statuses=[400]) as server:
        (result,) = AlertManager().send([("a", AlertLevel.WARNING, {})], NOW, notifier(server.url))
        assert server.requests == 1
    assert not result.ok and result.status == 400 and "HTTP 400" in (result.error or "")


def test_hanging_server_times_out_logs_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with webhook_server(hang=True) as server:
        target = notifier(server.url, timeout_s=0.3, max_attempts=2)
        started = time.monotonic()
        (result,) = AlertManager().send([("a", AlertLevel.EMERGENCY, {})], NOW, target)
        elapsed = time.monotonic() - started
        assert server.requests == 2
    assert not result.ok and result.status is None
    assert result.error == "timed out after 0.3s"
    assert elapsed < 2.0
    assert "timed out" in caplog.text
    assert ROUTING_KEY not in caplog.text and ROUTING_KEY not in (result.error or "")


def test_unreachable_webhook_is_reported() -> None:
    with webhook_server() as server:
        url = server.url
    (result,) = AlertManager().send(
        [("a", AlertLevel.WARNING, {})], NOW, notifier(url, max_attempts=2)
    )
    assert not result.ok and result.attempts == 2 and "Connection refused" in (result.error or "")


def test_routing_key_is_absent_from_reprs(caplog: pytest.LogCaptureFixture) -> None:
    target = notifier("http://127.0.0.1:9/v2/enqueue")
    assert ROUTING_KEY not in repr(target) and "'***'" in repr(target)
    assert ROUTING_KEY not in str(vars(target).get("kind"))
    with pytest.raises(ConfigError) as error:
        OnCallNotifier("ftp://x", "pagerduty", ROUTING_KEY)
    assert ROUTING_KEY not in str(error.value)
    with pytest.raises(ConfigError, match="routing key"):
        OnCallNotifier("https://events.pagerduty.com/v2/enqueue", "pagerduty", None)


def test_slack_bodies_and_both_notifiers_together() -> None:
    with webhook_server() as pd_server, webhook_server() as slack_server:
        targets = [
            notifier(pd_server.url),
            OnCallNotifier(slack_server.url, "slack", timeout_s=2.0),
        ]
        manager = AlertManager()
        manager.send([("a", AlertLevel.CRITICAL, {"stale_rate": 0.3})], NOW, targets)
        manager.send([("a", AlertLevel.OK, {})], NOW, targets)
        slack = list(slack_server.bodies)
        assert len(pd_server.bodies) == 2
    assert slack[0]["text"] == ":rotating_light: [P2] Feature view 'a' is CRITICAL"
    assert {"title": "stale_rate", "value": "0.3", "short": True} in slack[0]["attachments"][0][
        "fields"
    ]  # type: ignore[index]
    assert slack[1]["text"] == ":white_check_mark: RESOLVED: Feature view 'a' is healthy"
    assert "routing_key" not in slack[0]


def test_payload_builders_directly() -> None:
    alert = Alert("v", AlertLevel.EMERGENCY, "x" * 2000)
    event = build_pagerduty_event(alert, ROUTING_KEY)
    assert len(event["payload"]["summary"]) == 1024  # type: ignore[index]
    assert event["payload"]["severity"] == "critical"  # type: ignore[index]
    resolve = build_pagerduty_event(alert, ROUTING_KEY, action="resolve", dedup_key="k")
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "k"}
    assert build_slack_message(alert)["text"].startswith(":rotating_light: xxx")  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="Unknown alert level"):
        Alert("v", "SEVERE")  # type: ignore[arg-type]
