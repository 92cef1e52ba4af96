"""Core reports' JSON-friendly metadata, typed as Dagster metadata."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dagster as dg

from feature_platform.specs.durations import human_duration


def dagster_metadata(values: Mapping[str, object]) -> dict[str, Any]:
    """Lists and dicts become JSON metadata, durations read as "30 days"; other scalars and
    None stay as they are."""
    return {key: _value(value) for key, value in values.items()}


def _value(value: object) -> object:
    if isinstance(value, (list, dict)):
        return dg.MetadataValue.json(value)
    if isinstance(value, timedelta):
        return human_duration(value)
    return value
