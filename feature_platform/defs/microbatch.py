"""The micro-batch of NEAR_REAL_TIME views: `dbt build` of only their models, then the
incremental publish of only those views, every few minutes."""

import os
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from feature_platform.defs.dbt_assets import PrefixedDbtTranslator, dbt_project
from feature_platform.defs.feature_view_assets import online_key, source_model
from feature_platform.defs.metadata import dagster_metadata
from feature_platform.defs.ops import publish_views
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.errors import ConfigError
from feature_platform.materialization.incremental import DEFAULT_REPROCESSING_WINDOW
from feature_platform.specs import FeatureView, FreshnessTier

# The warehouse is one DuckDB file with one writer at a time: a micro-batch that meets
# another dbt build or a partition run holding it waits and tries again.
_WAREHOUSE_BUSY_RETRY = dg.RetryPolicy(max_retries=4, delay=15, backoff=dg.Backoff.EXPONENTIAL)


def microbatch_job_name(tier: FreshnessTier) -> str:
    """The micro-batch job of a tier's views."""
    return f"{FreshnessTier(tier).value}_microbatch_job"


def dbt_build_args(models: Sequence[str]) -> list[str]:
    """`dbt build` of ``models`` and the models they read (their tests included)."""
    if not models:
        raise ConfigError("dbt_build_args needs at least one model")
    return ["build", "--select", " ".join(f"+{m}" for m in sorted(set(models)))]


def build_microbatch_job(
    tier: FreshnessTier, views: Sequence[FeatureView], *, include_dbt: bool
) -> dg.JobDefinition:
    """A job that rebuilds the dbt models of ``views`` (when ``include_dbt``) and then publishes
    the rows created since each view's checkpoint.

    The publish reports a materialization of each view's online asset (without a partition:
    it refreshes the latest values, it does not complete a partition), so the view's
    freshness policy sees the micro-batch.
    """
    names = [v.name for v in views]
    models = [source_model(v) for v in views]

    @dg.op(
        name=f"{FreshnessTier(tier).value}_publish_incremental",
        ins={"models_built": dg.In(dg.Nothing)},
        out={},
        retry_policy=_WAREHOUSE_BUSY_RETRY,
        description=f"Incremental publish of {', '.join(names)}.",
    )
    def _publish(
        context: dg.OpExecutionContext, feature_platform: FeaturePlatformResource, warehouse: DuckDBResource
    ) -> Iterator[dg.AssetMaterialization]:
        selected = [feature_platform.feature_registry.view(n) for n in names]
        for view, facts in publish_views(context, feature_platform, warehouse, selected, DEFAULT_REPROCESSING_WINDOW):
            yield dg.AssetMaterialization(asset_key=online_key(view), metadata=dagster_metadata({**facts, "mode": "micro_batch"}))

    @dg.op(
        name=f"{FreshnessTier(tier).value}_dbt_build",
        out=dg.Out(dg.Nothing),
        retry_policy=_WAREHOUSE_BUSY_RETRY,
        description=f"dbt build of {', '.join(sorted(set(models)))} and their parents.",
    )
    def _dbt_build(
        context: dg.OpExecutionContext, dbt: DbtCliResource, feature_platform: FeaturePlatformResource
    ) -> Iterator[Any]:
        # dbt reads the warehouse and landing paths from the environment of its subprocess.
        os.environ.update(feature_platform.settings.dbt_env())
        # Row counts and columns like the dbt assets' own runs (see build_dbt_assets).
        yield from dbt.cli(
            dbt_build_args(models),
            manifest=dbt_project().manifest_path,
            dagster_dbt_translator=PrefixedDbtTranslator(),
            context=context,
        ).stream().fetch_row_counts().fetch_column_metadata()

    description = f"Every few minutes: the {FreshnessTier(tier).value} views' models, then their incremental publish."

    @dg.job(name=microbatch_job_name(tier), description=description)
    def _microbatch() -> None:
        _publish(_dbt_build()) if include_dbt else _publish()

    return _microbatch
