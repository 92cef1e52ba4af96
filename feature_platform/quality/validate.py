"""Running a feature view's expectation suite on its offline rows."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feature_platform.quality._frames import (
    SAMPLE_SIZE,
    Rows,
    json_value,
    sample_rows,
    to_frame,
)
from feature_platform.quality._gx import ephemeral_context, gx_modules
from feature_platform.quality.report import ExpectationOutcome, ValidationReport
from feature_platform.quality.suite import (
    CREATED_TS,
    EVENT_TS,
    build_expectations,
    timestamp_columns,
)
from feature_platform.rows.timestamps import as_utc, finer_than_micros, utc_series
from feature_platform.specs import FeatureView

_TIMESTAMP_CHECK = "expect_column_values_to_be_utc_timestamps"
_FINITE_CHECK = "expect_column_values_to_be_finite"


def validate_feature_rows(
    view: FeatureView,
    rows: Rows,
    *,
    now: datetime,
    extra_expectations: Sequence[Any] = (),
) -> ValidationReport:
    """Validate ``rows`` (a pandas DataFrame or pyarrow Table of ``view``'s offline rows).

    Runs :func:`build_expectations` (with ``now`` as the "not in the future" bound) plus
    ``extra_expectations`` in an ephemeral GX context, and a timestamp type check of the
    platform's own (GX cannot name tz-aware dtypes): ``event_timestamp``,
    ``created_timestamp`` and TIMESTAMP features must be datetimes; naive ones are read as
    UTC. The input is not modified. A failed or unevaluable expectation makes the report
    unsuccessful; nothing is raised for bad data.
    """
    outcomes = _check_finite(rows, view)
    frame: pd.DataFrame = to_frame(rows, f"Rows of feature view {view.name!r}")
    cutoff = as_utc(now, "now")
    outcomes += _check_timestamp_types(frame, view)
    expectations = build_expectations(view, extra_expectations, now=cutoff)
    outcomes += _run_gx(view, frame, expectations)
    return ValidationReport(
        view=view.name,
        success=all(o.success for o in outcomes),
        row_count=len(frame),
        evaluated_at=cutoff,
        results=tuple(outcomes),
    )


def _check_finite(rows: Rows, view: FeatureView) -> list[ExpectationOutcome]:
    """Float features hold finite values (NaN and +-inf refused) unless the feature allows
    them. An Arrow NaN is refused; in a pandas frame NaN means null (pandas' own rule)."""
    outcomes = []
    for feature in view.features:
        if feature.allow_non_finite:
            continue
        if isinstance(rows, pa.Table):
            if feature.name not in rows.column_names or not pa.types.is_floating(rows.column(feature.name).type):
                continue
            column = rows.column(feature.name)
            bad = pc.invert(pc.fill_null(pc.is_finite(column), True))
            count = pc.sum(bad).as_py() or 0
            values = pc.filter(column, bad).slice(0, SAMPLE_SIZE).to_pylist() if count else []
        elif isinstance(rows, pd.DataFrame) and feature.name in rows.columns and pd.api.types.is_float_dtype(rows[feature.name]):
            series = rows[feature.name]
            mask = np.isinf(series.to_numpy(dtype="float64", na_value=np.nan))
            count, values = int(mask.sum()), series[mask].head(SAMPLE_SIZE).tolist()
        else:
            continue
        outcomes.append(ExpectationOutcome(
            name=_FINITE_CHECK, columns=(feature.name,), success=count == 0, unexpected_count=count,
            unexpected_values=tuple(str(v) for v in values),
        ))
    return outcomes


def _check_timestamp_types(frame: pd.DataFrame, view: FeatureView) -> list[ExpectationOutcome]:
    """Type-check (and convert to UTC, in ``frame``) the view's timestamp columns."""
    outcomes = []
    for column in timestamp_columns(view):
        if column not in frame.columns:
            continue  # reported by the suite's column-exists expectation
        converted = utc_series(frame[column])
        if converted is None:
            outcomes.append(_timestamp_failure(column, str(frame[column].dtype), frame[column]))
            continue
        too_fine = finer_than_micros(converted)
        if too_fine:
            outcomes.append(
                _timestamp_failure(
                    column,
                    f"{too_fine} value(s) finer than a microsecond (timestamps are kept in µs)",
                    converted[converted.dt.nanosecond != 0],
                )
            )
            continue
        frame[column] = converted
        outcomes.append(
            ExpectationOutcome(
                name=_TIMESTAMP_CHECK, columns=(column,), success=True, observed=str(converted.dtype)
            )
        )
    return outcomes


def _timestamp_failure(column: str, observed: str, values: pd.Series) -> ExpectationOutcome:
    return ExpectationOutcome(
        name=_TIMESTAMP_CHECK,
        columns=(column,),
        success=False,
        observed=observed,
        unexpected_values=tuple(json_value(v) for v in values.head(SAMPLE_SIZE).tolist()),
    )


def _run_gx(
    view: FeatureView, frame: pd.DataFrame, expectations: list[Any]
) -> list[ExpectationOutcome]:
    gx, _ = gx_modules()
    context = ephemeral_context()
    batch = (
        context.data_sources.add_pandas("feature_rows")
        .add_dataframe_asset(view.name)
        .add_batch_definition_whole_dataframe("all_rows")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    # Expectation objects remember the suite they were added to: copies keep a caller's
    # hand-written expectations reusable across calls.
    suite = gx.ExpectationSuite(
        name=f"{view.name}_rows", expectations=[copy.deepcopy(e) for e in expectations]
    )
    order = {e.id: i for i, e in enumerate(suite.expectations)}
    result = batch.validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    )
    ordered = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
    context_columns = [*view.join_keys, EVENT_TS, CREATED_TS]
    return [_outcome(r, frame, context_columns) for r in ordered]


def _outcome(result: Any, frame: pd.DataFrame, context_columns: list[str]) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = config.kwargs
    columns = _columns_of(kwargs)
    details = result.result or {}
    error = _error_of(result.exception_info)
    positions = [int(p) for p in details.get("partial_unexpected_index_list") or []]
    return ExpectationOutcome(
        name=config.type,
        columns=columns,
        success=bool(result.success) and error is None,
        unexpected_count=details.get("unexpected_count"),
        unexpected_values=tuple(
            json_value(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
        ),
        sample_rows=tuple(sample_rows(frame, positions, [*context_columns, *columns])),
        observed=json_value(details["observed_value"]) if "observed_value" in details else None,
        error=error,
    )


def _columns_of(kwargs: dict[str, Any]) -> tuple[str, ...]:
    if "column" in kwargs:
        return (str(kwargs["column"]),)
    if "column_list" in kwargs:
        return tuple(str(c) for c in kwargs["column_list"])
    return tuple(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs)


def _error_of(info: Any) -> str | None:
    """The message of an exception GX raised while evaluating, if any.

    GX reports either one flat ``{raised_exception, exception_message}`` or one such dict
    per metric it failed to compute.
    """
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "expectation raised an exception")
    return None
