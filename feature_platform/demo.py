"""`make demo`: sample data, dbt, every feature view materialized offline and online, reads.

Runs the platform's jobs through Dagster on the embedded defaults, into a persistent
Dagster instance under the data folder, so `make dev` shows the runs afterwards.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from feature_platform.local_redis import ensure_redis
from feature_platform.online.connection import redact_url
from feature_platform.settings import Settings, load_settings

if TYPE_CHECKING:
    import dagster as dg

    from feature_platform.specs import Registry

DEMO_SERVICE = "churn_model_v1"
PAGE_EVENTS = "page_events"


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: the training frame and the online read it printed."""

    settings: Settings
    end: datetime
    historical: pd.DataFrame
    online: pd.DataFrame
    user_ids: list[int]
    realtime: pd.DataFrame | None = None


def run_demo(
    settings: Settings | None = None,
    *,
    days: int = 14,
    n_users: int = 500,
    end: datetime | None = None,
    echo: bool = True,
) -> DemoResult:
    """Generate sample data, build dbt, materialize every view for the sample range, read back.

    Prints one line per step and a short summary; the full output of the Dagster runs and
    dbt goes to ``<data_dir>/logs/demo.log``. ``end`` defaults to the start of the current
    hour (UTC): the sample's newest events are minutes old, so right after the demo every
    view is healthy by its kind of staleness (the hourly view's last complete partition is
    the hour before ``end``).
    """
    from feature_platform.defs import build_definitions
    from feature_platform.defs.instance import platform_instance
    from feature_platform.defs.jobs import (
        DBT_BUILD_JOB,
        materialize_job_name,
        partition_range_tags,
        views_by_partitioning,
    )
    from feature_platform.defs.ops import INCREMENTAL_JOB
    from feature_platform.defs.resources import FeaturePlatformResource
    from feature_platform.run_output import output_to_file
    from feature_platform.sample_data import generate_sample_data
    from feature_platform.serving.feature_store import FeatureStore

    def say(message: str) -> None:
        if echo:
            print(message, file=terminal, flush=True)

    terminal = sys.stdout
    settings = settings or load_settings()
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    log_path = settings.logs_dir / "demo.log"
    steps = _Steps(say, total=6)
    say(f"feature_platform demo: {days} days of events for {n_users} users; full log in {log_path}")

    with steps.step("Online store"):
        endpoint = ensure_redis(settings.redis_url, settings.data_dir)
        if endpoint.url != settings.redis_url:
            settings = settings.with_overrides(redis_url=endpoint.url)
            steps.note(f"no Redis at the configured URL; a private redis-server at {endpoint.url} "
                       f"(files under {settings.private_redis_dir})")
        else:
            steps.note(f"Redis at {redact_url(settings.redis_url)}")

    with steps.step("Sample data"):
        shutil.rmtree(settings.landing_dir, ignore_errors=True)
        summary = generate_sample_data(settings.landing_dir, end=end, days=days, n_users=n_users)
        counts = ", ".join(f"{n:,} {table}" for table, n in summary.row_counts.items())
        steps.note(f"{counts} ({summary.late_rows:,} late) under {settings.landing_dir}")

    platform = FeaturePlatformResource(
        data_dir=str(settings.data_dir), redis_url=settings.redis_url, tenant=settings.tenant,
        registry=settings.registry,
    )
    instance = platform_instance(settings)
    with output_to_file(log_path):
        defs = build_definitions(platform)
        with steps.step("dbt build (through Dagster)"):
            _check(defs.resolve_job_def(DBT_BUILD_JOB).execute_in_process(instance=instance), log_path)
            steps.note(f"warehouse {settings.warehouse_path}")
        materialized: dict[str, tuple[int, int, int]] = {}
        runs = 1
        with steps.step("Materialize every feature view offline and online"):
            table_views = [v for v in platform.feature_registry.views if not v.is_stream]
            for partitioning, group in views_by_partitioning(table_views).items():
                first = partitioning.key_for(end - timedelta(days=days))
                last = partitioning.key_for(end - partitioning.step)
                job = defs.resolve_job_def(materialize_job_name(partitioning))
                result = job.execute_in_process(
                    instance=instance, tags=partition_range_tags(first, last), raise_on_error=False
                )
                _check(result, log_path)
                materialized.update(_view_counts(result, group))
                runs += 1
                steps.note(f"{partitioning.value}: partitions {first} ... {last}, one run")
            # The rows of the current, incomplete partitions go online as in production: the
            # incremental publish of rows created since each view's checkpoint.
            _check(defs.resolve_job_def(INCREMENTAL_JOB).execute_in_process(instance=instance), log_path)
            runs += 1
            steps.note("rows of the current hour and day: incremental publish to the online store")

    with steps.step("Read a training frame and online values"):
        store = FeatureStore(settings, registry=platform.feature_registry)
        user_ids = summary.user_ids[:5]
        entity_df = pd.DataFrame(
            {
                "user_id": [u for u in user_ids for _ in range(2)],
                "event_timestamp": [t for _ in user_ids for t in (end - timedelta(days=3, hours=12), end)],
            }
        )
        historical = store.get_historical_features(entity_df, DEMO_SERVICE)
        response = store.get_online_features([{"user_id": u} for u in user_ids], DEMO_SERVICE)
        online = response.to_df()
        store.close()

    with steps.step("Real time: push a burst, run the stream processor until it is consumed"), output_to_file(log_path):
        realtime = run_realtime_step(settings, platform.feature_registry, list(user_ids), instance, say)

    statuses = online[[c for c in online.columns if c.endswith("__status")]].stack().value_counts()
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        say(f"\nPoint-in-time training frame ({DEMO_SERVICE}), first rows:\n{historical.head(6)}")
        say(f"\nOnline read ({DEMO_SERVICE}):\n{response.to_df(include_metadata=False)}")
        say("Statuses: " + ", ".join(f"{status} {count}" for status, count in statuses.items()))
    say("\nSummary")
    say(_summary_table(materialized))
    say(f"Steps: {steps.timings()}")
    say(
        f"Next: `make dev`, then http://127.0.0.1:3000 -> Assets (groups dbt, feature_views, online_store: "
        f"lineage, partitions, checks) and Runs (this demo's {runs} runs). "
        f"Dagster instance: {settings.dagster_home}"
    )
    return DemoResult(settings, end, historical, online, list(user_ids), realtime)


def run_realtime_step(
    settings: Settings,
    registry: Registry,
    user_ids: list[int],
    instance: dg.DagsterInstance | None,
    say: Callable[[str], None],
    *,
    n_events: int = 2_000,
) -> pd.DataFrame | None:
    """Push a burst of page events, run the stream processor until the burst is consumed,
    and read the real-time features of ``user_ids`` with their statuses.

    The processor reports its progress to ``instance`` as runless materializations. Skipped
    (None) when the registry has no view of the sample's ``page_events`` stream.
    """
    from feature_platform.defs.streams import progress_reporter
    from feature_platform.sample_data.stream_events import generate_page_events
    from feature_platform.serving.feature_store import FeatureStore
    from feature_platform.streaming.processor import run_processor

    views = [v for v in registry.views if v.is_stream and v.stream_source.name == PAGE_EVENTS]
    if not views:
        return None
    events = generate_page_events(n_events, user_ids, end=datetime.now(UTC), late_fraction=0.01)
    store = FeatureStore(settings, registry=registry)
    try:
        pushed = store.push(PAGE_EVENTS, events).accepted
        report = run_processor(settings, views, until_idle=True, on_progress=progress_reporter(views, instance))
        response = store.get_online_features([{"user_id": u} for u in user_ids], [f"{v.name}:*" for v in views])
    finally:
        store.close()
    say(
        f"\nReal time: pushed {pushed} page events; the stream processor applied {report.applied} and sent "
        f"{report.dead_lettered} that came later than the allowed lateness to dead letters"
    )
    realtime = response.to_df()
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        say(f"Real-time features ({', '.join(v.name for v in views)}):\n{realtime}")
    return realtime


class _Steps:
    """Numbered progress lines with the time each step took."""

    def __init__(self, say: Callable[[str], None], total: int) -> None:
        self._say, self._total, self._done = say, total, 0
        self._timings: list[tuple[str, float]] = []

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self._done += 1
        self._say(f"[{self._done}/{self._total}] {title} ...")
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        self._timings.append((title, elapsed))
        self._say(f"      done in {elapsed:.1f} s")

    def note(self, text: str) -> None:
        self._say(f"      {text}")

    def timings(self) -> str:
        total = sum(seconds for _, seconds in self._timings)
        return ", ".join(f"{title.split(' (')[0]} {seconds:.1f} s" for title, seconds in self._timings) + (
            f"; total {total:.1f} s"
        )


def _view_counts(result: Any, views: list[Any]) -> dict[str, tuple[int, int, int]]:
    """Per view of a range run: offline rows, partitions written, online entities."""
    counts = {}
    for view in views:
        offline = _metadata(result, view.name)
        online = _metadata(result, f"online/{view.name}")
        rows = offline.get("dagster/row_count", offline.get("row_count", 0))
        counts[view.name] = (int(rows), int(offline.get("partitions_written", 0)), int(online.get("entities", 0)))
    return counts


def _metadata(result: Any, key: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        if event.asset_key is not None and event.asset_key.to_user_string() == key:
            return {name: value.value for name, value in event.materialization.metadata.items()}
    return {}


def _summary_table(counts: dict[str, tuple[int, int, int]]) -> str:
    from feature_platform.cli.tables import format_table

    rows = [(view, f"{rows:,}", partitions, f"{entities:,}") for view, (rows, partitions, entities) in counts.items()]
    return format_table(("VIEW", "OFFLINE ROWS", "PARTITIONS", "ONLINE ENTITIES"), rows)


def _check(result: Any, log_path: Path) -> None:
    from feature_platform.errors import FeaturePlatformError

    if not getattr(result, "success", False):
        raise FeaturePlatformError(f"A demo run failed (run {getattr(result, 'run_id', '?')}); see {log_path}")
