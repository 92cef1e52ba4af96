"""The expectation suite generated from a feature view's spec."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from feature_platform.quality._gx import gx_modules
from feature_platform.rows.timestamps import as_utc
from feature_platform.specs import FeatureView, ValueType

EVENT_TS = "event_timestamp"
CREATED_TS = "created_timestamp"

# Accepted pandas dtypes per value type, in the names GX's type-list expectation resolves.
# Nullable extension dtypes are accepted so a column with nulls keeps its type; a STRING
# column in an object frame is checked value by value ("str").
_PANDAS_TYPES: dict[ValueType, list[str]] = {
    ValueType.INT64: ["int64", "Int64Dtype"],
    ValueType.FLOAT64: ["float64", "Float64Dtype"],
    ValueType.STRING: ["str", "StringDtype"],
    ValueType.BOOL: ["bool", "BooleanDtype"],
}


def timestamp_columns(view: FeatureView) -> list[str]:
    """Columns of the view's offline rows that must hold UTC timestamps.

    GX 1.24 cannot name a timezone-aware datetime dtype in its type expectations, so these
    columns are type-checked by :func:`validate_feature_rows` itself.
    """
    features = [f.name for f in view.features if f.dtype is ValueType.TIMESTAMP]
    return [EVENT_TS, CREATED_TS, *features]


def build_expectations(
    view: FeatureView, extra: Sequence[Any] = (), *, now: datetime | None = None
) -> list[Any]:
    """The great_expectations 1.x expectations of ``view``'s offline rows, then ``extra``.

    Generated from the spec: every schema column exists; join keys, ``event_timestamp`` and
    ``created_timestamp`` are not null; ``event_timestamp`` is not after ``now`` (default:
    the current UTC time); ``(join keys, event_timestamp, created_timestamp)`` is unique;
    each numeric feature with ``min_value`` / ``max_value`` lies in that closed range; each
    feature with ``allowed_values`` takes only those values; join keys and non-timestamp
    features have the pandas type of their declared dtype. Null feature values pass the
    range, set and type expectations (a null feature is a valid value). ``extra`` are
    hand-written GX expectations appended as they are.
    """
    _, gxe = gx_modules()
    cutoff = as_utc(now, "now") if now is not None else datetime.now(UTC)
    keys = view.join_keys
    expectations: list[Any] = [
        gxe.ExpectColumnToExist(column=field.name) for field in view.arrow_schema
    ]
    expectations += [
        gxe.ExpectColumnValuesToNotBeNull(column=column) for column in [*keys, EVENT_TS, CREATED_TS]
    ]
    expectations.append(gxe.ExpectColumnValuesToBeBetween(column=EVENT_TS, max_value=cutoff))
    expectations.append(
        gxe.ExpectCompoundColumnsToBeUnique(column_list=[*keys, EVENT_TS, CREATED_TS])
    )
    for feature in view.features:
        if feature.min_value is not None or feature.max_value is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=feature.name, min_value=feature.min_value, max_value=feature.max_value
                )
            )
        if feature.allowed_values is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=feature.name, value_set=list(feature.allowed_values)
                )
            )
    typed = [*view.join_key_types.items(), *((f.name, f.dtype) for f in view.features)]
    for column, dtype in typed:
        if dtype in _PANDAS_TYPES:
            expectations.append(
                gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=_PANDAS_TYPES[dtype])
            )
    expectations.extend(extra)
    return expectations
