"""Prometheus metrics of the feature server, in a registry of their own per app."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feature_platform.online import L1Cache

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
        yield from (hits, misses, ratio, size)


class ServerMetrics:
    """Request latency histogram, request/Redis-error/rate-limit counters, cache stats."""

    def __init__(self, cache: L1Cache | None = None) -> None:
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
        if cache is not None:
            self.registry.register(_CacheCollector(cache))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
