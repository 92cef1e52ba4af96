"""Turning offline rows (pandas or Arrow) into the pandas frame the checks run on."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import pandas as pd
import pyarrow as pa

from feature_platform.errors import SchemaError
from feature_platform.rows.conversion import to_pandas

Rows: TypeAlias = pd.DataFrame | pa.Table

SAMPLE_SIZE = 5

def to_frame(rows: Rows, what: str) -> pd.DataFrame:
    """A pandas copy of ``rows`` with a 0..n-1 index, so result indexes are row positions."""
    if isinstance(rows, pa.Table):
        return to_pandas(rows)
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True)
    raise SchemaError(
        f"{what}: rows must be a pandas.DataFrame or a pyarrow.Table, got {type(rows).__name__}"
    )


def json_value(value: object) -> object:
    """A JSON-friendly form of a cell: ISO strings for times, None for nulls, Python scalars."""
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def sample_rows(
    frame: pd.DataFrame, positions: list[int], columns: list[str]
) -> list[dict[str, object]]:
    """Up to SAMPLE_SIZE rows at ``positions``, limited to ``columns`` that exist, JSON-friendly."""
    present = [c for c in dict.fromkeys(columns) if c in frame.columns]
    picked = [p for p in positions if 0 <= p < len(frame)][:SAMPLE_SIZE]
    return [{"row": int(p), **{c: json_value(frame[c].iloc[p]) for c in present}} for p in picked]
