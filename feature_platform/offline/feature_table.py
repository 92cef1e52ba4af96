"""FeatureTable: one feature view's rows as an input of the point-in-time join."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

import pandas as pd
import pyarrow as pa

from feature_platform.errors import SpecError
from feature_platform.offline.partitioned_source import PartitionedParquetSource
from feature_platform.specs._validation import check_positive_ttl

FeatureSource: TypeAlias = (
    pd.DataFrame | pa.Table | str | os.PathLike[str] | PartitionedParquetSource
)


@dataclass(frozen=True)
class FeatureTable:
    """The rows of one feature view and what to take from them.

    ``source`` is a pandas DataFrame, a pyarrow Table, a Parquet file path or glob, or a
    :class:`PartitionedParquetSource` (what ``OfflineStore.feature_table`` gives, which lets
    the join open only the partitions in its window). ``features`` are the columns to
    return; ``ttl`` bounds a value's age (None: no limit). ``created_timestamp_column`` may
    be None when the source has no such column (all rows then tie on it).

    ``deduplicated=True`` promises at most one row per (join keys, event timestamp, created
    timestamp), so the join skips its dedup pass; the offline store's sources make that
    promise themselves. Otherwise, of rows equal on that triple the last one in source order
    (file name, then row) wins, as a write to the offline store would have kept it.
    """

    name: str
    source: FeatureSource
    join_keys: Sequence[str]
    features: Sequence[str]
    ttl: timedelta | None = None
    event_timestamp_column: str = "event_timestamp"
    created_timestamp_column: str | None = "created_timestamp"
    deduplicated: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"FeatureTable name must be a non-empty string, got {self.name!r}")
        if isinstance(self.join_keys, str) or isinstance(self.features, str):
            raise SpecError(
                f"FeatureTable {self.name!r}: join_keys and features are lists of column names, "
                "not a single string"
            )
        object.__setattr__(self, "join_keys", tuple(self.join_keys))
        object.__setattr__(self, "features", tuple(self.features))
        if not self.join_keys:
            raise SpecError(f"FeatureTable {self.name!r} needs at least one join key")
        if not self.features:
            raise SpecError(f"FeatureTable {self.name!r} needs at least one feature")
        for group, names in (("join key", self.join_keys), ("feature", self.features)):
            if len(set(names)) != len(names):
                raise SpecError(f"FeatureTable {self.name!r}: a {group} is listed twice: {names}")
        overlap = set(self.join_keys) & set(self.features)
        if overlap:
            raise SpecError(
                f"FeatureTable {self.name!r}: {sorted(overlap)} listed as both join key and feature"
            )
        check_positive_ttl(self.ttl, f"FeatureTable {self.name!r}")
        if isinstance(self.source, PartitionedParquetSource):
            object.__setattr__(self, "deduplicated", True)

    def output_name(self, feature: str, full_feature_names: bool) -> str:
        """The output column of ``feature``: ``"<name>__<feature>"`` with full names."""
        return f"{self.name}__{feature}" if full_feature_names else feature
