"""The hot-shard sensor: pages P3 through the on-call alerting when one Redis shard takes far
more than its share of the online store's operations.

A sensor rather than an asset check: the signal is each master's ops/s right now (``INFO
stats``, Redis's own estimate over the last ~1.6 s), a fact about the serving cluster that
no materialization produces or changes. A check would run only when a job runs it and would
page nobody by itself; the sensor runs every 30 s in the daemon beside the freshness and
stream health sensors, keeps its incident in its cursor (one page per incident, resolved when
the load evens out) and reaches on-call through the same :class:`AlertManager` and webhook.
"""

from datetime import UTC, datetime

import dagster as dg

from feature_platform.alerting import Alert, AlertManager
from feature_platform.defs.monitoring import OnCallResource
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.errors import FeaturePlatformError
from feature_platform.monitoring import AlertLevel
from feature_platform.online.hotspots import (
    DEFAULT_MAX_SHARE_FACTOR,
    DEFAULT_MIN_TOTAL_OPS,
    ShardAssessment,
    assess_shards,
)

HOT_SHARD_SENSOR = "hot_shard_sensor"
ALERT_CLASS = "hot_shard"
DEDUP_PREFIX = "feature_platform/shards"
SUBJECT = "online_store"
"""The incident's subject (PagerDuty ``component``): the online store's Redis, not one view."""


def hot_shard_alert(assessment: ShardAssessment) -> Alert:
    """WARNING (P3) for a hot shard, else OK (which resolves an open incident)."""
    level = AlertLevel.WARNING if assessment.hot else AlertLevel.OK
    state = f"[{level.priority}] Hot Redis shard: " if assessment.hot else "Redis shards are balanced: "
    hottest = assessment.hottest
    return Alert(
        view=SUBJECT,
        level=level,
        summary=state + assessment.message,
        alert_class=ALERT_CLASS,
        details={
            "hottest_shard": hottest.node if hottest else None,
            "ops_per_second": {s.node: s.ops_per_sec for s in assessment.shards},
            "imbalance": round(assessment.imbalance, 2),
            "cv": round(assessment.cv, 2),
        },
    )


def build_hot_shard_sensor(
    max_share_factor: float = DEFAULT_MAX_SHARE_FACTOR, min_total_ops: float = DEFAULT_MIN_TOTAL_OPS
) -> dg.SensorDefinition:
    """Every 30 s: each master's ops/s; P3 to on-call when one takes over ``max_share_factor``
    times its fair share of a store doing at least ``min_total_ops`` ops/s. A single Redis
    is one shard and never pages; an unreachable store is the freshness alerts' P1."""

    @dg.sensor(
        name=HOT_SHARD_SENSOR,
        minimum_interval_seconds=30,
        description="Shard-level QPS variance of the online store's Redis; pages P3 on a hot shard.",
    )
    def _hot_shards(
        context: dg.SensorEvaluationContext, feature_platform: FeaturePlatformResource, on_call: OnCallResource
    ) -> dg.SensorResult:
        try:
            loads = feature_platform.online_store().shard_loads()
        except FeaturePlatformError as error:
            return dg.SensorResult(skip_reason=f"Shard loads unreadable: {error}", cursor=context.cursor)
        assessment = assess_shards(loads, max_share_factor=max_share_factor, min_total_ops=min_total_ops)
        alert = hot_shard_alert(assessment)
        manager = AlertManager.from_cursor(context.cursor) if context.cursor else AlertManager(dedup_prefix=DEDUP_PREFIX)
        notifiers = on_call.notifiers()
        if notifiers:
            for result in manager.send([alert], datetime.now(UTC), notifiers):
                context.log.info(
                    f"{result.notification.action} {result.notification.dedup_key}: "
                    f"{'sent' if result.ok else 'FAILED ' + str(result.error)}"
                )
        else:
            context.log.warning("No on-call webhook configured (FEATURE_PLATFORM_ONCALL_URL); not paging")
        return dg.SensorResult(skip_reason=alert.summary, cursor=manager.to_json())

    return _hot_shards
