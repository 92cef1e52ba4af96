"""Asset checks built from the specs: the weekly online/offline agreement check."""

from datetime import UTC, datetime
from typing import Literal

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from feature_platform.defs.feature_view_assets import online_key
from feature_platform.defs.metadata import dagster_metadata
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.materialization.consistency import (
    DEFAULT_MAX_MISMATCH_RATE,
    compare_online_offline,
)
from feature_platform.specs import FeatureView

CONSISTENCY_CHECK = "online_matches_offline"


class ConsistencyCheckConfig(dg.Config):
    """How much of the view to compare and how much disagreement fails the check."""

    sample_size: int | None = None
    max_mismatch_rate: float = DEFAULT_MAX_MISMATCH_RATE
    engine: Literal["duckdb", "spark"] = "duckdb"


def build_consistency_check(view: FeatureView) -> dg.AssetChecksDefinition:
    """Online values of ``view`` vs the offline point-in-time join at now, per entity."""

    @dg.asset_check(
        asset=online_key(view),
        name=CONSISTENCY_CHECK,
        description=(
            "Compares every entity's online value (or a sample) with the offline point-in-time "
            "join at now; fails when mismatch, missing or extra rates exceed the threshold."
        ),
    )
    def _check(
        feature_platform: FeaturePlatformResource, pyspark: LazyPySparkResource, config: ConsistencyCheckConfig
    ) -> dg.AssetCheckResult:
        report = compare_online_offline(
            view,
            feature_platform.offline_store(),
            feature_platform.online_store(),
            now=datetime.now(UTC),
            sample_size=config.sample_size,
            engine=config.engine,
            # The session starts only when the Spark engine is asked for (a cold start is slow).
            spark=pyspark.spark_session if config.engine == "spark" else None,
        )
        metadata = dagster_metadata({**report.to_metadata(), "max_mismatch_rate": config.max_mismatch_rate})
        return dg.AssetCheckResult(passed=report.passes(config.max_mismatch_rate), metadata=metadata)

    return _check
