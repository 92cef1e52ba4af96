"""The Dagster side of stream views: the daily batch correction schedule, the stream health
sensor, and the runless materializations the stream processor reports."""

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg

from feature_platform.alerting import Alert, AlertManager
from feature_platform.defs.feature_view_assets import online_key, stream_source_key
from feature_platform.defs.jobs import AssetJob, partition_range_tags
from feature_platform.defs.metadata import dagster_metadata
from feature_platform.defs.monitoring import OnCallResource
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.errors import FeaturePlatformError
from feature_platform.materialization.cadence import cron_for
from feature_platform.monitoring import AlertLevel
from feature_platform.specs import FeatureView, Partitioning, StreamSource
from feature_platform.specs.durations import human_duration

if TYPE_CHECKING:
    from feature_platform.streaming.health import PartitionHealth, SourceHealth
    from feature_platform.streaming.processor import ProgressReport

STREAM_HEALTH_SENSOR = "stream_health_sensor"
STREAM_CORRECTION_SCHEDULE = "daily_stream_correction"
# After the daily full run of the batch views (02:00), so the two do not compete.
STREAM_CORRECTION_CRON = cron_for(timedelta(days=1), timedelta(hours=2, minutes=30))
DEFAULT_LAG_SUSTAINED_FOR = timedelta(minutes=5)
DEFAULT_DEAD_LETTER_WARNING_SHARE = 0.05
DEFAULT_REPORT_INTERVAL = timedelta(seconds=30)
ALERT_CLASS = "stream_health"
DEDUP_PREFIX = "feature_platform/stream"


def build_stream_correction_schedule(
    job: AssetJob, partitioning: Partitioning
) -> dg.ScheduleDefinition:
    """Every day at 02:30 UTC: one run over every partition of the previous day of ``job``
    (one daily partition, or 24 hourly ones), so late and dead-lettered events of that day
    reach the offline store and, through compare-and-set, the online store."""
    @dg.schedule(
        name=STREAM_CORRECTION_SCHEDULE if partitioning is Partitioning.DAILY else f"{partitioning.value}_stream_correction",
        job=job,
        cron_schedule=STREAM_CORRECTION_CRON,
        execution_timezone="UTC",
        description="Daily batch correction of the stream views from every landed event.",
    )
    def _correction(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        at = context.scheduled_execution_time or datetime.now(UTC)
        day_start = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        first = partitioning.key_for(day_start)
        last = partitioning.key_for(day_start + timedelta(days=1) - partitioning.step)
        return dg.RunRequest(run_key=f"{job.name}:{first}", tags=partition_range_tags(first, last))

    return _correction


@dataclass
class _ViewReport:
    applied: int = 0
    shed: int = 0
    newest_event_us: int | None = None
    last_sent: float = 0.0


@dataclass
class StreamMaterializationReporter:
    """The processor's ``on_progress`` hook: a runless materialization of each stream view's
    online asset, at most once per ``interval`` per view, so the view's freshness policy
    follows the stream (a stalled processor stops reporting and the policy goes WARN, then
    FAIL). Counts between two reports are added up, never lost."""

    instance: dg.DagsterInstance
    views: Mapping[str, FeatureView]
    interval: timedelta = DEFAULT_REPORT_INTERVAL
    clock: Callable[[], float] = time.monotonic
    _pending: dict[str, _ViewReport] = field(default_factory=dict)

    def __call__(self, progress: "ProgressReport") -> None:
        """Record ``progress`` and report the views whose interval has passed."""
        now = self.clock()
        for name, view_progress in progress.views.items():
            if name not in self.views:
                continue
            pending = self._pending.setdefault(name, _ViewReport())
            pending.applied += view_progress.applied
            pending.shed += view_progress.shed
            if view_progress.newest_event_us is not None:
                pending.newest_event_us = max(pending.newest_event_us or 0, view_progress.newest_event_us)
            if pending.last_sent and now - pending.last_sent < self.interval.total_seconds():
                continue
            self.instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=online_key(self.views[name]),
                    description="Applied by the stream processor",
                    metadata=dagster_metadata(
                        {
                            "mode": "stream",
                            "applied": pending.applied,
                            "shed": pending.shed,
                            "newest_event_time": _iso(pending.newest_event_us),
                            "processor": progress.owner,
                            "partitions": {s: list(p) for s, p in progress.partitions.items()},
                        }
                    ),
                )
            )
            self._pending[name] = _ViewReport(last_sent=now)


def progress_reporter(
    stream_views: Sequence[FeatureView], instance: dg.DagsterInstance | None = None
) -> StreamMaterializationReporter | None:
    """A reporter into ``instance``, or into the instance of ``DAGSTER_HOME`` when set; None
    when there is no Dagster instance to report to."""
    if instance is None:
        if not os.environ.get("DAGSTER_HOME"):
            return None
        instance = dg.DagsterInstance.get()
    return StreamMaterializationReporter(instance, {v.name: v for v in stream_views if v.is_stream})


def _lag_text(seconds: float) -> str:
    """A partition lag in words; nothing applied yet is no duration at all."""
    return human_duration(seconds) if math.isfinite(seconds) else "forever (nothing applied yet)"


def _iso(micros: int | None) -> str | None:
    return datetime.fromtimestamp(micros / 1e6, tz=UTC).isoformat() if micros is not None else None


@dataclass(frozen=True)
class StreamHealthConfig:
    """When the stream health sensor pages: P2 when a partition's lag (the time to apply what
    waits) has stayed above the view's tier promise for ``lag_sustained_for``; P1 when a
    partition has no live owner; P3 when more than ``dead_letter_warning_share`` of the
    events since the previous tick went to dead letters. The scaling advice counts a
    partition as lagging above ``scaling_lag_events`` (default: half the smallest ``max_lag``)
    for ``lag_sustained_for``."""

    lag_sustained_for: timedelta = DEFAULT_LAG_SUSTAINED_FOR
    dead_letter_warning_share: float = DEFAULT_DEAD_LETTER_WARNING_SHARE
    scaling_lag_events: int | None = None


def lag_seconds(health: "PartitionHealth", now: datetime) -> float:
    """How long the events waiting in a partition take to become readable: the waiting
    entries over the recent throughput, or, when nothing is being applied, the time since the
    last apply (forever when nothing was ever applied)."""
    if health.lag <= 0:
        return 0.0
    if health.throughput > 0:
        return health.lag / health.throughput
    if health.last_applied_at is not None:
        return (now - health.last_applied_at).total_seconds()
    return float("inf")


@dataclass
class StreamHealthState:
    """The sensor cursor: open incidents, since when each partition lags, and the counters
    of the previous tick (for rates)."""

    alerts: str | None = None
    high_since: dict[str, str] = field(default_factory=dict)
    scaling_since: dict[str, str] = field(default_factory=dict)
    counters: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "StreamHealthState":
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(data.get("alerts"), data.get("high_since", {}), data.get("scaling_since", {}), data.get("counters", {}))

    def to_cursor(self) -> str:
        return json.dumps(
            {"alerts": self.alerts, "high_since": self.high_since, "scaling_since": self.scaling_since,
             "counters": self.counters}
        )


def evaluate_stream_health(
    views: Sequence[FeatureView],
    health: Sequence["SourceHealth"],
    state: StreamHealthState,
    now: datetime,
    config: StreamHealthConfig,
) -> tuple[list[Alert], list[dg.AssetObservation]]:
    """The alert of each stream view and an observation of each stream source (with the
    lag-based scaling advice), updating the sensor state."""
    from feature_platform.streaming.health import scaling_advice

    by_source = {h.source: list(h.partitions) for h in health}
    dead_letters = {h.source: h.dead_letters for h in health}
    sources = {v.stream_source.name: v.stream_source for v in views}
    threshold = config.scaling_lag_events or max(1, min((s.max_lag for s in sources.values()), default=2) // 2)
    advice = scaling_advice(
        health, lag_threshold=threshold, sustained_for=config.lag_sustained_for, now=now,
        high_since={k: datetime.fromisoformat(v) for k, v in state.scaling_since.items()},
    )
    state.scaling_since = {k: v.isoformat() for k, v in advice.high_since.items()}
    observations = []
    source_facts: dict[str, dict[str, Any]] = {}
    for name, source in sources.items():
        partitions = sorted(by_source.get(name, []), key=lambda p: p.partition)
        facts = _source_facts(source, partitions, dead_letters.get(name, 0), state, now)
        facts["scaling_advice"] = {
            "add_processors": advice.add_processors,
            "lagging_partitions": [label for label in advice.lagging if label.startswith(f"{name}:")],
            "needs_more_partitions": advice.needs_more_partitions,
        }
        observations.append(dg.AssetObservation(asset_key=stream_source_key(source), metadata=dagster_metadata(facts)))
        source_facts[name] = facts
    alerts = []
    for view in views:
        promise = view.tier.expected_freshness
        partitions = by_source.get(view.stream_source.name, [])
        facts = source_facts[view.stream_source.name]
        level, reasons = AlertLevel.OK, []
        for partition in partitions:
            key = f"{partition.source}:{partition.partition}"
            lag = lag_seconds(partition, now)
            if lag > promise.total_seconds():
                since = datetime.fromisoformat(state.high_since.setdefault(key, now.isoformat()))
                if now - since >= config.lag_sustained_for:
                    level = max(level, AlertLevel.CRITICAL)
                    reasons.append(
                        f"partition {key} lags {_lag_text(lag)} ({partition.lag} events) behind, above the "
                        f"{view.tier.value} promise of {human_duration(promise)} for {human_duration(now - since)}"
                    )
            else:
                state.high_since.pop(key, None)
            if not partition.owner_alive:
                level = AlertLevel.EMERGENCY
                reasons.append(f"partition {key} has no live processor (owner {partition.owner or 'none'})")
        share = facts.get("dead_letter_share_since_last_tick") or 0.0
        if share > config.dead_letter_warning_share:
            level = max(level, AlertLevel.WARNING)
            reasons.append(f"{share:.1%} of the events since the last check went to dead letters")
        priority = f"[{level.priority}] " if level.priority else ""
        summary = f"{priority}Stream view {view.name!r} " + ("is healthy" if level is AlertLevel.OK else f"{level.name}: {reasons[0]}")
        alerts.append(
            Alert(
                view=view.name, level=level, summary=summary, alert_class=ALERT_CLASS,
                details={"reasons": reasons, **{k: v for k, v in facts.items() if k != "partitions"}},
            )
        )
    return alerts, observations


def _source_facts(
    source: StreamSource, partitions: Sequence["PartitionHealth"], dead_letter_stream: int, state: StreamHealthState,
    now: datetime,
) -> dict[str, Any]:
    dead = sum(p.dead_lettered for p in partitions)
    applied = sum(p.events for p in partitions) - dead
    previous = state.counters.get(source.name)
    share = None
    if previous is not None:
        new_applied, new_dead = applied - previous[0], dead - previous[1]
        total = new_applied + new_dead
        share = new_dead / total if total > 0 else 0.0
    state.counters[source.name] = [applied, dead]
    missing = sorted(set(range(source.partitions)) - {p.partition for p in partitions})
    return {
        "lag_events": sum(p.lag for p in partitions),
        "max_lag": _lag_text(max((lag_seconds(p, now) for p in partitions), default=0.0)),
        "throughput_events_per_s": round(sum(p.throughput or 0.0 for p in partitions), 1),
        "applied": applied,
        "dead_lettered": dead,
        "dead_letter_stream_length": dead_letter_stream,
        "dead_letter_share_since_last_tick": share,
        "partitions_without_live_owner": sorted(
            {p.partition for p in partitions if not p.owner_alive} | set(missing)
        ),
        "partitions": [
            {
                "partition": p.partition, "lag": p.lag, "owner": p.owner, "owner_alive": p.owner_alive,
                "watermark": p.watermark.isoformat() if p.watermark else None,
            }
            for p in partitions
        ],
    }


def build_stream_health_sensor(
    views: Sequence[FeatureView], config: StreamHealthConfig | None = None
) -> dg.SensorDefinition:
    """Every 30 s: reads lag, throughput, dead letters and processor heartbeats of every
    stream source from Redis, records them as observations of the ``stream/<source>``
    assets, and pages on-call through the existing alerting (one incident per stream view,
    escalated and resolved like the freshness alerts)."""
    stream_views = [v for v in views if v.is_stream]
    limits = config or StreamHealthConfig()

    @dg.sensor(
        name=STREAM_HEALTH_SENSOR,
        minimum_interval_seconds=30,
        description="Stream lag, throughput, dead letters and processor liveness; pages on-call.",
    )
    def _stream_health(
        context: dg.SensorEvaluationContext, feature_platform: FeaturePlatformResource, on_call: OnCallResource
    ) -> dg.SensorResult:
        from feature_platform.streaming.health import read_stream_health

        state = StreamHealthState.from_cursor(context.cursor)
        now = datetime.now(UTC)
        settings = feature_platform.settings
        sources = list({v.stream_source.name: v.stream_source for v in stream_views}.values())
        try:
            health = read_stream_health(settings.redis_url, settings.tenant, sources, now=now)
        except FeaturePlatformError as error:
            alerts = [
                Alert(view=v.name, level=AlertLevel.EMERGENCY, alert_class=ALERT_CLASS,
                      summary=f"[P1] Stream view {v.name!r}: stream health unreadable: {error}")
                for v in stream_views
            ]
            observations: list[dg.AssetObservation] = []
        else:
            alerts, observations = evaluate_stream_health(stream_views, health, state, now, limits)
        manager = AlertManager.from_json(state.alerts) if state.alerts else AlertManager(dedup_prefix=DEDUP_PREFIX)
        notifiers = on_call.notifiers()
        if notifiers:
            for result in manager.send(alerts, now, notifiers):
                context.log.info(
                    f"{result.notification.action} {result.notification.dedup_key}: "
                    f"{'sent' if result.ok else 'FAILED ' + str(result.error)}"
                )
        else:
            context.log.warning("No on-call webhook configured (FEATURE_PLATFORM_ONCALL_URL); not paging")
        state.alerts = manager.to_json()
        levels = ", ".join(f"{a.view}={a.level.name}" for a in alerts)
        return dg.SensorResult(asset_events=observations, cursor=state.to_cursor(), skip_reason=f"Stream health: {levels}")

    return _stream_health
