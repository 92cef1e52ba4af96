"""Backfill planning: which partitions are missing, and what a recompute would change."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from feature_platform.materialization.source_reader import read_source_window
from feature_platform.offline import OfflineStore
from feature_platform.specs import FeatureView, Partitioning


def partition_keys(partitioning: Partitioning, start: datetime, end: datetime) -> list[str]:
    """Keys of the partitions that start in ``[start, end)``, oldest first."""
    keys, current = [], partitioning.floor(start)
    while current < end:
        keys.append(current.strftime(partitioning.key_format))
        current += partitioning.step
    return keys


def missing_ranges(keys: Sequence[str], done: set[str]) -> list[tuple[str, str]]:
    """Contiguous runs ``(first, last)`` of ``keys`` not in ``done``; each becomes one run."""
    ranges: list[tuple[str, str]] = []
    first: str | None = None
    previous: str | None = None
    for key in keys:
        if key in done:
            if first is not None and previous is not None:
                ranges.append((first, previous))
            first = None
        elif first is None:
            first = key
        previous = key
    if first is not None and previous is not None:
        ranges.append((first, previous))
    return ranges


@dataclass(frozen=True)
class RecomputeDiff:
    """What recomputing a window from the source would change, on a sample of entities."""

    view: str
    start: datetime
    end: datetime
    entities_sampled: int
    rows_now: int
    rows_recomputed: int
    added: int
    removed: int
    changed: int
    examples: list[dict[str, object]] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        """Whether the recompute would leave the sampled entities exactly as they are."""
        return self.added == self.removed == self.changed == 0

    def summary(self) -> str:
        """One paragraph for a person deciding whether to run the backfill."""
        return (
            f"{self.view} [{self.start.isoformat()}, {self.end.isoformat()}): sampled "
            f"{self.entities_sampled} entities; rows now {self.rows_now}, after recompute "
            f"{self.rows_recomputed}; {self.added} added, {self.removed} removed, {self.changed} changed"
        )


def _sample(table: pa.Table, view: FeatureView, keys: set[tuple[object, ...]]) -> dict[tuple[object, ...], dict[str, object]]:
    rows = {}
    for row in table.to_pylist():
        entity = tuple(row[k] for k in view.join_keys)
        if entity in keys:
            rows[(*entity, row["event_timestamp"], row["created_timestamp"])] = row
    return rows


def preview_recompute(
    warehouse: duckdb.DuckDBPyConnection,
    view: FeatureView,
    offline_store: OfflineStore,
    start: datetime,
    end: datetime,
    *,
    sample_entities: int = 100,
    seed: int = 0,
    max_examples: int = 5,
) -> RecomputeDiff:
    """Recompute ``[start, end)`` from the source in memory and compare it with the offline
    store on a seeded sample of entities; writes nothing (the check before a bug-fix backfill)."""
    now_rows = offline_store.read(view, start, end)
    new_rows = read_source_window(warehouse, view, start, end)
    entities = {tuple(r[k] for k in view.join_keys) for t in (now_rows, new_rows) for r in t.select(view.join_keys).to_pylist()}
    ordered = sorted(entities, key=repr)
    sampled = set(random.Random(seed).sample(ordered, min(sample_entities, len(ordered))))
    before, after = _sample(now_rows, view, sampled), _sample(new_rows, view, sampled)
    added = [k for k in after if k not in before]
    removed = [k for k in before if k not in after]
    changed = [k for k in after if k in before and after[k] != before[k]]
    examples: list[dict[str, object]] = []
    for kind, keys in (("changed", changed), ("added", added), ("removed", removed)):
        for key in keys[: max_examples - len(examples)]:
            examples.append({"kind": kind, "before": before.get(key), "after": after.get(key)})
    return RecomputeDiff(
        view.name, start, end, len(sampled), now_rows.num_rows, new_rows.num_rows,
        len(added), len(removed), len(changed), examples,
    )
