"""Blocking checks between a view's offline partition and its online publish.

They are partitioned like the view, so each run checks exactly the partitions it wrote;
when one fails, the run stops before the online asset and Redis keeps its values.

A single-run backfill of a range plans one evaluation per partition; a check that answered
once for the whole range would leave those planned evaluations open (the UI then shows the
check as Skipped per partition, Passed as its latest execution and "0 / 2 passed" on the
lineage node). So every check reports one evaluation per partition of its run.
"""

import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feature_platform.defs.feature_view_assets import offline_key
from feature_platform.defs.metadata import dagster_metadata
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.quality import check_no_future_rows, validate_feature_rows
from feature_platform.quality.leakage import LeakageReport
from feature_platform.quality.report import ValidationReport
from feature_platform.specs import FeatureView

VALIDATION_CHECK = "feature_rows_valid"
LEAKAGE_CHECK = "no_future_rows"


Report = ValidationReport | LeakageReport


def _run_rows(
    context: dg.AssetCheckExecutionContext, view: FeatureView, platform: FeaturePlatformResource
) -> pa.Table:
    window = context.op_execution_context.partition_time_window
    return platform.offline_store().read(view, window.start, window.end)


def _rows_by_partition(
    rows: pa.Table, keys: Sequence[str], partitions_def: dg.TimeWindowPartitionsDefinition
) -> dict[str, pa.Table]:
    """The run's rows split by the partition their event time falls in (one sort, no rescans)."""
    starts = np.array(
        [int(partitions_def.time_window_for_partition_key(k).start.timestamp() * 1_000_000) for k in keys]
    )
    stamps = pc.cast(rows["event_timestamp"], pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    index = np.searchsorted(starts, stamps, side="right") - 1
    order = np.argsort(index, kind="stable")
    ordered = rows.take(pa.array(order))
    bounds = np.searchsorted(index[order], np.arange(len(keys) + 1), side="left")
    return {key: ordered.slice(bounds[i], bounds[i + 1] - bounds[i]) for i, key in enumerate(keys)}


def _evaluations(
    context: dg.AssetCheckExecutionContext,
    view: FeatureView,
    check_name: str,
    rows: pa.Table,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    judge: Callable[[pa.Table], Report],
) -> Iterator[dg.AssetCheckEvaluation | dg.Output[None]]:
    """One evaluation per partition of the run. The whole range is judged once; only when it
    fails is each partition judged on its own rows, so that a failure names its partitions."""
    keys = list(context.op_execution_context.partition_keys)
    whole = judge(rows)
    by_partition = _rows_by_partition(rows, keys, partitions_def)
    for key in keys:
        if whole.success:
            report: Report = whole
            extra = {"partition_row_count": by_partition[key].num_rows, "checked_range": f"{keys[0]}...{keys[-1]}"}
        else:
            report, extra = judge(by_partition[key]), {}
        yield dg.AssetCheckEvaluation(
            asset_key=offline_key(view),
            check_name=check_name,
            passed=report.success,
            metadata=dagster_metadata({**report.to_metadata(), **extra}),
            description=report.summary(),
            blocking=True,
            partition=key,
        )
    # The check's own output; its results are the evaluations above.
    yield dg.Output(None)


def build_quality_checks(
    view: FeatureView,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    extra_expectations: Sequence[object] = (),
) -> list[dg.AssetChecksDefinition]:
    """The great_expectations suite of ``view`` and the leakage check, both blocking."""
    # Partitioned checks (one result per partition written) are a preview API; the warning
    # on every definitions load would only be noise for users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _build(view, partitions_def, extra_expectations)


def _build(
    view: FeatureView, partitions_def: dg.TimeWindowPartitionsDefinition, extra_expectations: Sequence[object]
) -> list[dg.AssetChecksDefinition]:

    # The decorators are typed for one AssetCheckResult; Dagster also runs a generator of
    # per-partition evaluations, which AssetCheckResult (without a partition) cannot express.
    @dg.asset_check(  # type: ignore[arg-type]
        asset=offline_key(view),
        name=VALIDATION_CHECK,
        blocking=True,
        partitions_def=partitions_def,
        description="great_expectations suite generated from the view's spec; blocks the online publish.",
    )
    def _validation(
        context: dg.AssetCheckExecutionContext, feature_platform: FeaturePlatformResource
    ) -> Iterator[dg.AssetCheckEvaluation | dg.Output[None]]:
        now = datetime.now(UTC)
        yield from _evaluations(
            context, view, VALIDATION_CHECK, _run_rows(context, view, feature_platform), partitions_def,
            lambda rows: validate_feature_rows(view, rows, now=now, extra_expectations=extra_expectations),
        )

    @dg.asset_check(  # type: ignore[arg-type]
        asset=offline_key(view),
        name=LEAKAGE_CHECK,
        blocking=True,
        partitions_def=partitions_def,
        description="Fails when a row's event time is later than its partition's materialization (data from the future).",
    )
    def _leakage(
        context: dg.AssetCheckExecutionContext, feature_platform: FeaturePlatformResource
    ) -> Iterator[dg.AssetCheckEvaluation | dg.Output[None]]:
        event = context.instance.get_latest_materialization_event(offline_key(view))
        materialized_at = (
            datetime.fromtimestamp(event.timestamp, tz=UTC) if event else datetime.now(UTC)
        )
        yield from _evaluations(
            context, view, LEAKAGE_CHECK, _run_rows(context, view, feature_platform), partitions_def,
            lambda rows: check_no_future_rows(rows, materialized_at),
        )

    return [_validation, _leakage]
