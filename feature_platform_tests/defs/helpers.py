"""Helpers for Dagster-layer tests: build definitions over a test platform, dump stores."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import dagster as dg
import duckdb
import pyarrow as pa
import redis

from feature_platform.defs import build_definitions
from feature_platform.defs.jobs import materialize_job_name, partition_range_tags
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.online.keys import MARKER_SUFFIX
from feature_platform.settings import Settings
from feature_platform.specs import FeatureView, Partitioning

HUMAN_DURATION = re.compile(r"-?\d+(\.\d+)? (day|hour|minute|second)s?( \d+ (hour|minute|second)s?)*")
"""A duration as :func:`feature_platform.specs.durations.human_duration` writes it."""
_UNIT_SECONDS = {"day": 86_400, "hour": 3_600, "minute": 60, "second": 1}


def seconds_of(text: str) -> float:
    """The seconds of a duration in words ("1 day 2 hours", "0.25 seconds")."""
    if not HUMAN_DURATION.fullmatch(text):
        raise ValueError(f"not a duration in words: {text!r}")
    parts = re.findall(r"(-?\d+(?:\.\d+)?) (day|hour|minute|second)", text)
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)


def platform_for(settings: Settings) -> FeaturePlatformResource:
    return FeaturePlatformResource(
        data_dir=str(settings.data_dir), redis_url=settings.redis_url, tenant=settings.tenant
    )


def definitions_for(settings: Settings) -> dg.Definitions:
    return build_definitions(platform_for(settings), include_dbt=False)


def run_range(defs: dg.Definitions, partitioning: Partitioning, first: str, last: str) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(materialize_job_name(partitioning))
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), tags=partition_range_tags(first, last)
    )
    assert result.success
    return result


def materialize_everything(settings: Settings, end_days: tuple[object, int]) -> dg.Definitions:
    """Every partition of every view over the sample range, one single run per partitioning."""
    end, days = end_days
    defs = definitions_for(settings)
    for partitioning in (Partitioning.DAILY, Partitioning.HOURLY):
        first = partitioning.key_for(end - timedelta(days=days))  # type: ignore[operator]
        last = partitioning.key_for(end - partitioning.step)  # type: ignore[operator]
        run_range(defs, partitioning, first, last)
    return defs


def source_rows(settings: Settings, view: FeatureView, start: object, end: object) -> pa.Table:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.sql(
            f"SELECT * FROM {view.source.table} WHERE event_timestamp >= ? AND event_timestamp < ? "
            "ORDER BY ALL",
            params=[start, end],
        ).to_arrow_table()
    finally:
        con.close()


def redis_dump(url: str) -> dict[bytes, dict[bytes, bytes]]:
    """Every entity hash in the Redis database with its fields: the whole online state
    (publish markers, which name the last run that published, are bookkeeping: left out)."""
    client = redis.Redis.from_url(url)
    try:
        return {key: client.hgetall(key) for key in client.scan_iter(count=1000) if not key.endswith(MARKER_SUFFIX)}
    finally:
        client.close()


def purchase_rows(day: datetime, n: int, first_user: int = 100_000) -> pa.Table:
    """``n`` users' rows of user_purchase_activity on ``day``, one per user, all distinct."""
    return pa.table({
        "user_id": pa.array(range(first_user, first_user + n), pa.int64()),
        "event_timestamp": pa.array([day + timedelta(seconds=i) for i in range(n)], pa.timestamp("us", "UTC")),
        "created_timestamp": pa.array([day + timedelta(seconds=i + 1) for i in range(n)], pa.timestamp("us", "UTC")),
        **{f: pa.array([1.0] * n) for f in ("spend_7d", "spend_30d", "avg_order_value_30d")},
        **{f: pa.array([1] * n, pa.int64()) for f in ("purchases_7d", "purchases_30d")},
    })


def publish_step_seconds(instance: dg.DagsterInstance, run_id: str, step_key: str) -> float:
    """Seconds from the step's start to its handled output: the online publish of a run."""
    events = [e for e in instance.all_logs(run_id) if e.step_key == step_key and e.dagster_event]
    started = next(e.timestamp for e in events if e.dagster_event.event_type_value == "STEP_START")
    handled = next(e.timestamp for e in events if e.dagster_event.event_type_value == "HANDLED_OUTPUT")
    return handled - started
