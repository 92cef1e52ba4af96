"""Core reports' JSON-friendly metadata, typed as Dagster metadata."""

from collections.abc import Mapping
from typing import Any

import dagster as dg


def dagster_metadata(values: Mapping[str, object]) -> dict[str, Any]:
    """Lists and dicts become JSON metadata; scalars and None stay as they are."""
    return {
        key: dg.MetadataValue.json(value) if isinstance(value, (list, dict)) else value
        for key, value in values.items()
    }
