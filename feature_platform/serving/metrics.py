"""Prometheus metrics of the feature server, in a registry of their own per app."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feature_platform.errors import FeaturePlatformError
from feature_platform.online import L1Cache
from feature_platform.online.hotspots import ShardLoad, assess_shards

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)


class _CacheCollector(Collector):
    """Reads the L1 cache's counters at scrape time."""

    def __init__(self, cache: L1Cache) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        stats = self._cache.stats
        hits = CounterMetricFamily("feature_server_cache_hits", "L1 cache hits")
        hits.add_metric([], stats.hits)
        misses = CounterMetricFamily("feature_server_cache_misses", "L1 cache misses")
        misses.add_metric([], stats.misses)
        ratio = GaugeMetricFamily("feature_server_cache_hit_ratio", "L1 cache hits / lookups")
        ratio.add_metric([], stats.hit_rate)
        size = GaugeMetricFamily("feature_server_cache_entries", "Entries in the L1 cache")
        size.add_metric([], stats.size)
        hot = GaugeMetricFamily(
            "feature_server_hot_key_reads", "Reads of the most read keys (approximate counts)",
            labels=["tenant", "view", "entity"],
        )
        for key in self._cache.hot_keys.top(10):
            hot.add_metric([key.tenant, key.view, repr(key.entity)], key.count)
        yield from (hits, misses, ratio, size, hot)


class _ShardCollector(Collector):
    """Reads every shard's ops/s at scrape time and says whether one shard is hot (P3)."""

    def __init__(self, shard_loads: Callable[[], list[ShardLoad]]) -> None:
        self._shard_loads = shard_loads

    def collect(self) -> Iterator[Metric]:
        try:
            loads = self._shard_loads()
        except FeaturePlatformError:
            return  # the store is down: the request metrics and errors already say so
        assessment = assess_shards(loads)
        ops = GaugeMetricFamily(
            "feature_server_shard_ops_per_second", "Operations per second of each Redis master",
            labels=["node"],
        )
        for shard in loads:
            ops.add_metric([shard.node], shard.ops_per_sec)
        imbalance = GaugeMetricFamily(
            "feature_server_shard_load_imbalance", "Busiest shard's ops/s over the mean (1 = even)"
        )
        imbalance.add_metric([], assessment.imbalance)
        cv = GaugeMetricFamily("feature_server_shard_ops_cv", "Coefficient of variation of shard ops/s")
        cv.add_metric([], assessment.cv)
        level = GaugeMetricFamily(
            "feature_server_hot_shard",
            "1 when one shard takes over 2x its fair share of a busy cluster (alert P3), else 0",
        )
        level.add_metric([], int(assessment.hot))
        yield from (ops, imbalance, cv, level)


class ServerMetrics:
    """Request latency histogram, request/Redis-error/rate-limit counters, cache stats and
    top hot keys, and (given ``shard_loads``) each shard's load and the hot-shard alert."""

    def __init__(
        self, cache: L1Cache | None = None, shard_loads: Callable[[], list[ShardLoad]] | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "feature_server_request_duration_seconds",
            "Time to answer a request, by endpoint and HTTP status",
            ["endpoint", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "feature_server_redis_errors",
            "Online store (Redis) failures, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "feature_server_rate_limited",
            "Requests refused by the per-tenant rate limit",
            ["tenant"],
            registry=self.registry,
        )
        self.l1_fallbacks = Counter(
            "feature_server_l1_fallbacks",
            "Reads answered from the L1 cache alone because Redis was unavailable",
            registry=self.registry,
        )
        if cache is not None:
            self.registry.register(_CacheCollector(cache))
        if shard_loads is not None:
            self.registry.register(_ShardCollector(shard_loads))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
