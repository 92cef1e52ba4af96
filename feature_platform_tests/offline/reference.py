"""A brute-force point-in-time join, written straight from SEMANTICS.md, to test the engines."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from feature_platform.offline import FeatureTable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: Any) -> int | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    delta = ts.to_pydatetime() - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def reference_join(
    entity: pd.DataFrame,
    tables: list[FeatureTable],
    *,
    inclusive: bool = False,
    full_feature_names: bool = False,
    entity_timestamp_column: str = "event_timestamp",
) -> list[dict[str, Any]]:
    """Feature values per entity row (in order), by checking every feature row one by one.

    Sources must be pandas DataFrames. Among rows equal on (keys, event, created) the last
    one in the frame counts, as the offline store would have kept it.
    """
    out: list[dict[str, Any]] = [{} for _ in range(len(entity))]
    for table in tables:
        source = table.source
        assert isinstance(source, pd.DataFrame)
        rows = source.to_dict("records")
        ttl = None if table.ttl is None else int(table.ttl.total_seconds() * 1_000_000)
        for i, e in enumerate(entity.to_dict("records")):
            t = _micros(e[entity_timestamp_column])
            assert t is not None
            best: tuple[int, int, int] | None = None
            chosen: dict[str, Any] | None = None
            for position, r in enumerate(rows):
                if any(_missing(e[k]) or _missing(r[k]) or e[k] != r[k] for k in table.join_keys):
                    continue
                ets = _micros(r[table.event_timestamp_column])
                if ets is None:
                    continue
                if not (ets <= t if inclusive else ets < t):
                    continue
                if ttl is not None and t - ets > ttl:
                    continue
                cts = (
                    _micros(r[table.created_timestamp_column])
                    if table.created_timestamp_column is not None
                    else None
                )
                rank = (ets, -(2**63) if cts is None else cts, position)
                if best is None or rank > best:
                    best, chosen = rank, r
            for feature in table.features:
                name = table.output_name(feature, full_feature_names)
                value = None if chosen is None else chosen[feature]
                out[i][name] = None if _missing(value) else value
    return out
