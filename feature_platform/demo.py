"""`make demo`: sample data, dbt, every feature view materialized offline and online, reads.

Runs the platform's jobs through Dagster on the embedded defaults, into a persistent
Dagster instance under the data folder, so `make dev` shows the runs afterwards.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from feature_platform.local_redis import ensure_redis
from feature_platform.settings import Settings, load_settings

DEMO_SERVICE = "churn_model_v1"


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: the training frame and the online read it printed."""

    settings: Settings
    end: datetime
    historical: pd.DataFrame
    online: pd.DataFrame
    user_ids: list[int]


def run_demo(
    settings: Settings | None = None,
    *,
    days: int = 14,
    n_users: int = 500,
    end: datetime | None = None,
    echo: bool = True,
) -> DemoResult:
    """Generate sample data, build dbt, materialize every view for the sample range, read back.

    ``end`` defaults to the start of the current hour (UTC): the sample's newest events are
    minutes old, so right after the demo every view is healthy by its kind of staleness
    (the hourly view's last complete partition is the hour before ``end``).
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
    from feature_platform.sample_data import generate_sample_data
    from feature_platform.serving.feature_store import FeatureStore

    def say(message: str) -> None:
        if echo:
            print(message, flush=True)

    settings = settings or load_settings()
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    endpoint = ensure_redis(settings.redis_url, settings.data_dir)
    if endpoint.url != settings.redis_url:
        say(
            f"No Redis answers at {settings.redis_url}; using a private redis-server at {endpoint.url} "
            f"(files under {settings.data_dir / 'redis'}). Set REDIS_URL to use another."
        )
        settings = settings.with_overrides(redis_url=endpoint.url)

    shutil.rmtree(settings.landing_dir, ignore_errors=True)
    summary = generate_sample_data(settings.landing_dir, end=end, days=days, n_users=n_users)
    say(f"Sample data: {summary}")

    instance = platform_instance(settings)
    platform = FeaturePlatformResource(
        data_dir=str(settings.data_dir), redis_url=settings.redis_url, tenant=settings.tenant,
        registry=settings.registry,
    )
    defs = build_definitions(platform)

    say("Building the dbt models ...")
    _check(defs.resolve_job_def(DBT_BUILD_JOB).execute_in_process(instance=instance))
    for partitioning in views_by_partitioning(platform.feature_registry.views):
        first = partitioning.key_for(end - timedelta(days=days))
        last = partitioning.key_for(end - partitioning.step)
        say(f"Materializing the {partitioning.value} feature views, partitions {first} ... {last} (one run) ...")
        job = defs.resolve_job_def(materialize_job_name(partitioning))
        _check(job.execute_in_process(instance=instance, tags=partition_range_tags(first, last)))
    # The rows of the current, incomplete partitions go online as in production: the
    # incremental publish of rows created since each view's checkpoint.
    say("Publishing rows of the current hour and day online (incremental) ...")
    _check(defs.resolve_job_def(INCREMENTAL_JOB).execute_in_process(instance=instance))

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
    statuses = online[[c for c in online.columns if c.endswith("__status")]].stack().value_counts()
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        say(f"\nPoint-in-time training frame ({DEMO_SERVICE}):\n{historical}")
        say(f"\nOnline read ({DEMO_SERVICE}):\n{response.to_df(include_metadata=False)}")
        say("Statuses: " + ", ".join(f"{status} {count}" for status, count in statuses.items()))
    say(f"\nDagster instance: {settings.dagster_home} (run `make dev` to see the runs and lineage)")
    return DemoResult(settings, end, historical, online, list(user_ids))


def _check(result: object) -> None:
    from feature_platform.errors import FeaturePlatformError

    if not getattr(result, "success", False):
        raise FeaturePlatformError("A demo run failed; see the Dagster logs above")
