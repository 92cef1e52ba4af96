"""Blocking checks between a view's offline partition and its online publish.

They are partitioned like the view, so each run checks exactly the partitions it wrote;
when one fails, the run stops before the online asset and Redis keeps its values.
"""

import warnings
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa

from feature_platform.defs.feature_view_assets import offline_key
from feature_platform.defs.metadata import dagster_metadata
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.quality import check_no_future_rows, validate_feature_rows
from feature_platform.quality.leakage import LeakageReport
from feature_platform.quality.report import ValidationReport
from feature_platform.specs import FeatureView

VALIDATION_CHECK = "feature_rows_valid"
LEAKAGE_CHECK = "no_future_rows"


def _partition_rows(
    context: dg.AssetCheckExecutionContext, view: FeatureView, platform: FeaturePlatformResource
) -> pa.Table:
    window = context.op_execution_context.partition_time_window
    return platform.offline_store().read(view, window.start, window.end)


def _result(report: ValidationReport | LeakageReport) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=report.success, metadata=dagster_metadata(report.to_metadata()), description=report.summary()
    )


def build_quality_checks(
    view: FeatureView,
    partitions_def: dg.PartitionsDefinition,
    extra_expectations: Sequence[object] = (),
) -> list[dg.AssetChecksDefinition]:
    """The great_expectations suite of ``view`` and the leakage check, both blocking."""
    # Partitioned checks (one result per partition written) are a preview API; the warning
    # on every definitions load would only be noise for users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _build(view, partitions_def, extra_expectations)


def _build(
    view: FeatureView, partitions_def: dg.PartitionsDefinition, extra_expectations: Sequence[object]
) -> list[dg.AssetChecksDefinition]:

    @dg.asset_check(
        asset=offline_key(view),
        name=VALIDATION_CHECK,
        blocking=True,
        partitions_def=partitions_def,
        description="great_expectations suite generated from the view's spec; blocks the online publish.",
    )
    def _validation(
        context: dg.AssetCheckExecutionContext, feature_platform: FeaturePlatformResource
    ) -> dg.AssetCheckResult:
        rows = _partition_rows(context, view, feature_platform)
        return _result(validate_feature_rows(view, rows, now=datetime.now(UTC), extra_expectations=extra_expectations))

    @dg.asset_check(
        asset=offline_key(view),
        name=LEAKAGE_CHECK,
        blocking=True,
        partitions_def=partitions_def,
        description="Fails when a row's event time is later than its partition's materialization (data from the future).",
    )
    def _leakage(
        context: dg.AssetCheckExecutionContext, feature_platform: FeaturePlatformResource
    ) -> dg.AssetCheckResult:
        rows = _partition_rows(context, view, feature_platform)
        event = context.instance.get_latest_materialization_event(offline_key(view))
        materialized_at = (
            datetime.fromtimestamp(event.timestamp, tz=UTC) if event else datetime.now(UTC)
        )
        return _result(check_no_future_rows(rows, materialized_at))

    return [_validation, _leakage]
