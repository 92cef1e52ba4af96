"""Shared pieces of the online-store benchmarks: a private Redis (or Redis Cluster) and
synthetic feature data."""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feature_platform.specs import (
    Entity,
    Feature,
    FeatureView,
    FreshnessTier,
    TableSource,
    ValueType,
)
from feature_platform_tests.redis_cluster import RedisCluster
from feature_platform_tests.redis_server import RedisServer

USER = Entity("user", {"user_id": ValueType.INT64})


def bench_view(
    name: str, n_features: int, ttl: timedelta | None = timedelta(days=30), first: int = 0
) -> FeatureView:
    """A view of features ``f{first}...`` cycling int64 / float64 / string."""
    kinds = [ValueType.INT64, ValueType.FLOAT64, ValueType.STRING]
    features = [Feature(f"f{i}", kinds[i % 3]) for i in range(first, first + n_features)]
    return FeatureView(name, USER, features, TableSource(name), ttl=ttl, tier=FreshnessTier.BATCH)


def feature_rows(
    view: FeatureView, n_entities: int, rows_per_entity: int = 1, seed: int = 7
) -> pa.Table:
    """``n_entities * rows_per_entity`` rows with recent event times (within the ttl), of
    every feature type (string features take their allowed values when the view has some)."""
    rng = np.random.default_rng(seed)
    n = n_entities * rows_per_entity
    now = datetime.now(UTC)
    start = np.datetime64((now - timedelta(days=10)).replace(tzinfo=None), "us")
    events = start + rng.integers(0, 9 * 86_400_000_000, n).astype("timedelta64[us]")
    columns: dict[str, pa.Array] = {
        "user_id": pa.array(np.tile(np.arange(n_entities, dtype=np.int64), rows_per_entity)),
        "event_timestamp": pa.array(events, pa.timestamp("us", tz="UTC")),
        "created_timestamp": pa.array(events + np.timedelta64(5, "m"), pa.timestamp("us", tz="UTC")),
    }
    labels = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
    for feature in view.features:
        if feature.dtype is ValueType.INT64:
            columns[feature.name] = pa.array(rng.integers(0, 1000, n))
        elif feature.dtype is ValueType.FLOAT64:
            columns[feature.name] = pa.array(rng.random(n) * 100)
        elif feature.dtype is ValueType.BOOL:
            columns[feature.name] = pa.array(rng.random(n) < 0.5)
        elif feature.dtype is ValueType.TIMESTAMP:
            columns[feature.name] = pa.array(events, pa.timestamp("us", tz="UTC"))
        elif feature.allowed_values:
            allowed = np.array(feature.allowed_values)
            columns[feature.name] = pa.array(allowed[rng.integers(0, len(allowed), n)])
        else:
            columns[feature.name] = pa.array(labels[rng.integers(0, len(labels), n)])
    return pa.table(columns)


def start_redis() -> RedisServer:
    """A private redis-server on a free port (never another server)."""
    return RedisServer(Path(tempfile.mkdtemp(prefix="fp-bench-redis-"))).start()


def start_cluster() -> RedisCluster:
    """A private Redis Cluster (3 masters + 3 replicas) on free ports."""
    return RedisCluster(Path(tempfile.mkdtemp(prefix="fp-bench-cluster-"))).start()


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    """p50, p95, p99 in microseconds."""
    values = np.array(samples_ns) / 1000
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return float(p50), float(p95), float(p99)
