"""The weekly validation: does the online store agree with the offline point-in-time answer?"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import pandas as pd

from feature_platform.offline import OfflineStore, point_in_time_join
from feature_platform.online import FeatureStatus, OnlineStore
from feature_platform.specs import FeatureView, ViewRequest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MAX_MISMATCH_RATE = 0.001


@dataclass(frozen=True)
class ConsistencyReport:
    """Agreement of online values with the offline PIT join at ``now`` for one view.

    ``missing``: offline has a value, online has none. ``extra``: online serves a value
    where offline has none. ``mismatched``: both have one and they differ.
    """

    view: str
    now: datetime
    checked: int
    mismatched: int
    missing: int
    extra: int
    samples: list[dict[str, object]] = field(default_factory=list)

    def rate(self, count: int) -> float:
        """``count`` as a share of the entities checked."""
        return count / self.checked if self.checked else 0.0

    def passes(self, max_rate: float = DEFAULT_MAX_MISMATCH_RATE) -> bool:
        """Whether every kind of disagreement stays within ``max_rate``."""
        return all(self.rate(n) <= max_rate for n in (self.mismatched, self.missing, self.extra))

    def to_metadata(self) -> dict[str, object]:
        """JSON-friendly summary (Dagster check metadata)."""
        return {
            "checked": self.checked,
            "mismatched": self.mismatched,
            "missing": self.missing,
            "extra": self.extra,
            "mismatch_rate": self.rate(self.mismatched),
            "missing_rate": self.rate(self.missing),
            "extra_rate": self.rate(self.extra),
            "now": self.now.isoformat(),
            "samples": [{k: str(v) for k, v in s.items()} for s in self.samples],
        }


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _equal(a: object, b: object) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)  # type: ignore[arg-type]
    return bool(a == b)


def _entity_keys(view: FeatureView, offline_store: OfflineStore, online_store: OnlineStore, now: datetime) -> list[tuple[object, ...]]:
    start = now - view.ttl if view.ttl is not None else None
    keys = {tuple(key[k] for k in view.join_keys) for key in offline_entity_keys(view, offline_store, start, now)}
    for key, _event_ts, _created_ts, _values in online_store.iter_entities(view, now=now):
        keys.add(tuple(key[k] for k in view.join_keys))
    return sorted(keys, key=repr)


def compare_online_offline(
    view: FeatureView,
    offline_store: OfflineStore,
    online_store: OnlineStore,
    *,
    now: datetime,
    sample_size: int | None = None,
    seed: int = 0,
    max_samples: int = 5,
    engine: Literal["duckdb", "spark"] = "duckdb",
    spark: SparkSession | None = None,
) -> ConsistencyReport:
    """Compare, for every entity (or a seeded random sample), the online read at ``now``
    with the point-in-time join of the entity row ``(entity, now)`` on ``engine``."""
    keys = _entity_keys(view, offline_store, online_store, now)
    if sample_size is not None and len(keys) > sample_size:
        keys = random.Random(seed).sample(keys, sample_size)
    if not keys:
        return ConsistencyReport(view.name, now, 0, 0, 0, 0)
    entity_df = pd.DataFrame(keys, columns=view.join_keys)
    entity_df["event_timestamp"] = now
    offline = point_in_time_join(
        entity_df, [offline_store.feature_table(view, view.feature_names)], engine=engine, spark=spark
    )
    assert isinstance(offline, pd.DataFrame)  # the default output
    request = ViewRequest(view, tuple(view.feature_names))
    online = online_store.read([request], entity_df[view.join_keys].to_dict("records"), now=now)
    mismatched = missing = extra = 0
    samples: list[dict[str, object]] = []
    for offline_row, values in zip(offline.to_dict("records"), online.entities):
        online_present = any(values[f].status is FeatureStatus.PRESENT for f in view.feature_names)
        offline_present = any(not _missing(offline_row[f]) for f in view.feature_names)
        kind = None
        if offline_present and not online_present:
            kind, missing = "missing", missing + 1
        elif online_present and not offline_present:
            kind, extra = "extra", extra + 1
        elif any(not _equal(offline_row[f], values[f].value) for f in view.feature_names):
            kind, mismatched = "mismatched", mismatched + 1
        if kind and len(samples) < max_samples:
            sample: dict[str, object] = {"kind": kind, **{k: offline_row[k] for k in view.join_keys}}
            sample.update({f"offline.{f}": offline_row[f] for f in view.feature_names})
            sample.update({f"online.{f}": values[f].value for f in view.feature_names})
            samples.append(sample)
    return ConsistencyReport(view.name, now, len(keys), mismatched, missing, extra, samples)


def offline_entity_keys(
    view: FeatureView, offline_store: OfflineStore, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, object]]:
    """Every entity with a row in the offline store (event time in ``[start, end)`` if given);
    the online cleanup keeps exactly these."""
    table = offline_store.read(view, start, end, columns=view.join_keys)
    unique = table.group_by(view.join_keys).aggregate([]) if table.num_rows else table
    return unique.to_pylist()
