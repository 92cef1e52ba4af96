"""Freshness: per-tier freshness policies, the staleness check, and the on-call alert sensor."""

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from feature_platform.alerting import Alert, AlertManager, OnCallNotifier
from feature_platform.defs.feature_view_assets import offline_key, online_key
from feature_platform.defs.jobs import materialize_job_name
from feature_platform.defs.metadata import dagster_metadata
from feature_platform.defs.quality_checks import LEAKAGE_CHECK, VALIDATION_CHECK
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.monitoring import (
    AlertLevel,
    AlertThresholds,
    StalenessReport,
    collect_staleness,
    freshness_windows,
)
from feature_platform.settings import OnCallSettings, load_settings
from feature_platform.specs import FeatureView, StalenessKind
from feature_platform.specs.durations import human_duration

STALENESS_CHECK = "staleness"
MONITORING_JOB = "freshness_monitoring_job"
ALERT_SENSOR = "on_call_alert_sensor"
_FRESHNESS_LEVELS = {"WARN": AlertLevel.WARNING, "FAIL": AlertLevel.CRITICAL}
_KIND_MEASURE = {
    StalenessKind.SNAPSHOT: "time since last confirmed by a materialization",
    StalenessKind.EVENT: "now minus the newest event",
    StalenessKind.WINDOWED_AGGREGATE: "time since computed",
}


def freshness_policy(view: FeatureView) -> dg.FreshnessPolicy:
    """Dagster's freshness policy for the view's tier: warn at 2x, fail at 5x its promise."""
    warn, fail = freshness_windows(view.tier, AlertThresholds.for_view(view))
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)


class OnCallResource(dg.ConfigurableResource):
    """Where pages go. A field left unset comes from the settings' ``on_call`` section
    (``feature_platform.yaml``, ``FEATURE_PLATFORM_ON_CALL__*`` or the short names
    ``FEATURE_PLATFORM_ONCALL_URL``, ``FEATURE_PLATFORM_ONCALL_KIND``, ``PAGERDUTY_ROUTING_KEY``)
    when the sensor runs. Give secrets as ``dg.EnvVar(...)``: the UI then shows the variable's
    name, never its value (:func:`on_call_resource` does)."""

    webhook_url: str | None = None
    kind: str | None = None
    routing_key: str | None = None
    timeout_s: float | None = None
    max_attempts: int | None = None

    def settings(self) -> OnCallSettings:
        """The on-call settings in force: the fields set here over the loaded ones."""
        fields = ("webhook_url", "kind", "routing_key", "timeout_s", "max_attempts")
        overrides = {name: getattr(self, name) for name in fields if getattr(self, name) is not None}
        return load_settings(on_call=overrides).on_call

    def notifiers(self) -> list[OnCallNotifier]:
        """The configured notifier, or none when no webhook is set."""
        config = self.settings()
        if config.webhook_url is None:
            return []
        key = config.routing_key.get_secret_value() if config.routing_key is not None else None
        return [
            OnCallNotifier(
                config.webhook_url.get_secret_value(), config.kind, key,
                timeout_s=config.timeout_s, max_attempts=config.max_attempts,
            )
        ]


ON_CALL_SECRET_VARIABLES = {"webhook_url": "FEATURE_PLATFORM_ONCALL_URL", "routing_key": "PAGERDUTY_ROUTING_KEY"}


def on_call_resource() -> OnCallResource:
    """The on-call resource with its secrets as ``dg.EnvVar`` where those variables are set."""
    secrets: dict[str, Any] = {
        field: dg.EnvVar(name) for field, name in ON_CALL_SECRET_VARIABLES.items() if os.environ.get(name)
    }
    return OnCallResource(**secrets)


def materialization_status(instance: dg.DagsterInstance, view: FeatureView) -> tuple[datetime | None, bool]:
    """When the view's online asset was last materialized, and whether a newer run of its
    job that targeted the view has failed since."""
    event = instance.get_latest_materialization_event(online_key(view))
    last = datetime.fromtimestamp(event.timestamp, tz=UTC) if event else None
    # Newest first; a failure older than the last success no longer matters, so look back
    # far enough that failures of other views sharing the job cannot hide this view's.
    failures = instance.get_run_records(
        dg.RunsFilter(job_name=materialize_job_name(view.partitioning), statuses=[dg.DagsterRunStatus.FAILURE]),
        limit=100,
    )
    keys = {offline_key(view), online_key(view)}
    for record in failures:
        selection = record.dagster_run.asset_selection
        ended = record.end_time
        targeted = selection is None or bool(keys & set(selection))
        if targeted and ended is not None and (last is None or ended > last.timestamp()):
            return last, True
    return last, False


def view_staleness(
    instance: dg.DagsterInstance, platform: FeaturePlatformResource, view: FeatureView, now: datetime
) -> StalenessReport:
    """The staleness report of ``view``, with Dagster's run history as materialization facts."""
    last, failed = materialization_status(instance, view)
    return collect_staleness(
        view, platform.offline_store(), platform.online_store(), now=now,
        last_materialization=last, materialization_failed=failed, publish_records=platform.publish_records(),
    )


def build_staleness_check(view: FeatureView) -> dg.AssetChecksDefinition:
    """Feature lag, materialization lag, stale-entity rate and age percentiles of ``view``."""

    @dg.asset_check(
        asset=online_key(view),
        name=STALENESS_CHECK,
        description=(
            f"Data staleness ({view.staleness.value if view.staleness else 'event'}: "
            f"{_KIND_MEASURE[view.staleness or StalenessKind.EVENT]}) against the {view.tier.value} tier "
            f"({human_duration(view.tier.expected_freshness)}); Dagster's freshness policy measures only the time since "
            "the last materialization."
        ),
    )
    def _staleness(context: dg.AssetCheckExecutionContext, feature_platform: FeaturePlatformResource) -> dg.AssetCheckResult:
        report = view_staleness(context.instance, feature_platform, view, datetime.now(UTC))
        severity = dg.AssetCheckSeverity.WARN if report.level <= AlertLevel.WARNING else dg.AssetCheckSeverity.ERROR
        return dg.AssetCheckResult(
            passed=report.level is AlertLevel.OK,
            severity=severity,
            metadata=dagster_metadata({**report.to_metadata(), "level": report.level.name}),
            description="; ".join(report.reasons) or "fresh",
        )

    return _staleness


CHECK_HISTORY_LOOKBACK = 200

Escalation = Callable[[dg.DagsterInstance, FeatureView], tuple[AlertLevel, str] | None]
"""A rule that may raise a view's level above its staleness: the level and why, or None."""


def failed_blocking_checks(instance: dg.DagsterInstance, view: FeatureView) -> list[str]:
    """The blocking checks of ``view`` whose latest completed evaluation of some partition
    failed (that partition's data is held back from the online store).

    A planned or in-flight evaluation is neither passed nor failed: it does not change what
    the partition's last completed evaluation said.
    """
    failed = []
    for name in (VALIDATION_CHECK, LEAKAGE_CHECK):
        history = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(offline_key(view), name), limit=CHECK_HISTORY_LOOKBACK
        )
        latest: dict[str | None, bool] = {}
        for record in history:  # newest first
            evaluation = record.evaluation
            if isinstance(evaluation, dg.AssetCheckEvaluation):
                latest.setdefault(record.partition, evaluation.passed)
        if not all(latest.values()):
            failed.append(name)
    return failed


def _freshness_state(instance: dg.DagsterInstance, view: FeatureView) -> tuple[AlertLevel, str] | None:
    state = instance.get_freshness_state_records([online_key(view)]).get(online_key(view))
    if state is None:
        return None
    name = getattr(state.freshness_state, "value", str(state.freshness_state))
    level = _FRESHNESS_LEVELS.get(name)
    return (level, f"Dagster freshness policy state is {name}") if level else None


def _blocking_checks(instance: dg.DagsterInstance, view: FeatureView) -> tuple[AlertLevel, str] | None:
    blocked = failed_blocking_checks(instance, view)
    if not blocked:
        return None
    return AlertLevel.CRITICAL, f"failed blocking checks {', '.join(blocked)}: new data is not being published"


ESCALATIONS: tuple[Escalation, ...] = (_freshness_state, _blocking_checks)


def view_alert(
    instance: dg.DagsterInstance,
    platform: FeaturePlatformResource,
    view: FeatureView,
    now: datetime,
    escalations: Sequence[Escalation] = ESCALATIONS,
) -> Alert:
    """The view's alert: its staleness level, raised by each of ``escalations`` that fires
    (Dagster's freshness state, a failed blocking check holding its data back)."""
    report = view_staleness(instance, platform, view, now)
    alert = Alert.from_staleness(report)
    level, reasons = report.level, list(report.reasons)
    for escalation in escalations:
        raised = escalation(instance, view)
        if raised is not None and raised[0] > level:
            level = raised[0]
            reasons.append(raised[1])
    if level == report.level:
        return alert
    return Alert(view=view.name, level=level, details={**alert.details, "reasons": reasons})


def unreadable_view_alert(view: FeatureView, error: Exception) -> Alert:
    """P1 for a view whose state could not be read: on-call must look, since nothing else will."""
    reason = f"its state cannot be read: {type(error).__name__}: {error}"
    return Alert(
        view=view.name,
        level=AlertLevel.EMERGENCY,
        summary=f"[{AlertLevel.EMERGENCY.priority}] Feature view {view.name!r}: {reason}",
        details={"view": view.name, "level": AlertLevel.EMERGENCY.name, "reasons": [reason]},
    )


def evaluate_views(
    context: dg.SensorEvaluationContext, platform: FeaturePlatformResource, views: Sequence[FeatureView], now: datetime
) -> list[Alert]:
    """Every view's alert, each evaluated on its own: one view whose state cannot be read
    gets a P1 and cannot stop the alerts of the others."""
    alerts = []
    for view in views:
        try:
            alerts.append(view_alert(context.instance, platform, view, now))
        except Exception as error:  # the sensor's tick must survive any one view
            context.log.exception(f"Feature view {view.name!r}: evaluating its alert failed")
            alerts.append(unreadable_view_alert(view, error))
    return alerts


def build_alert_sensor(views: Sequence[FeatureView]) -> dg.SensorDefinition:
    """Pages on-call when a view's level rises, once per incident, and resolves it when healthy.

    The incident state lives in the sensor cursor; a failing webhook is retried by the
    notifier and again on the next tick, never crashing the sensor.
    """

    @dg.sensor(name=ALERT_SENSOR, minimum_interval_seconds=60, description="Freshness and failure alerts to on-call.")
    def _alerts(
        context: dg.SensorEvaluationContext, feature_platform: FeaturePlatformResource, on_call: OnCallResource
    ) -> dg.SensorResult:
        manager = AlertManager.from_cursor(context.cursor)
        now = datetime.now(UTC)
        alerts = evaluate_views(context, feature_platform, views, now)
        notifiers = on_call.notifiers()
        if not notifiers:
            context.log.warning("No on-call webhook configured (FEATURE_PLATFORM_ONCALL_URL); not paging")
            return dg.SensorResult(skip_reason="No on-call webhook configured", cursor=context.cursor)
        results = manager.send(alerts, now, notifiers)
        for result in results:
            context.log.info(
                f"{result.notification.action} {result.notification.dedup_key} "
                f"({result.notification.alert.level.name}): {'sent' if result.ok else 'FAILED ' + str(result.error)}"
            )
        levels = ", ".join(f"{a.view}={a.level.name}" for a in alerts)
        return dg.SensorResult(skip_reason=f"Sent {len(results)} notifications; {levels}", cursor=manager.to_json())

    return _alerts
