"""Hot-spot detection: per-key access frequency and shard-level QPS variance.

The seed's detection step for hot entities has two signals:

* per-key access frequency: the L1 cache's :class:`~feature_platform.online.cache.HotKeyTracker`
  (the top keys this process read);
* shard-level QPS variance: each Redis master's ``instantaneous_ops_per_sec`` (its own
  sliding estimate over the last ~1.6 s).

:func:`assess_shards` says a shard is hot, priority P3 (the WARNING level of
:class:`~feature_platform.monitoring.levels.AlertLevel`: investigate), when it takes more
than ``max_share_factor`` times its fair share (``1 / shards``) while the cluster is busy
enough for the shares to mean something (``min_total_ops``). A single Redis is one shard:
it is never imbalanced.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from feature_platform.errors import ConfigError

DEFAULT_MAX_SHARE_FACTOR = 2.0
DEFAULT_MIN_TOTAL_OPS = 200.0
HOT_SHARD_PRIORITY = "P3"


@dataclass(frozen=True)
class ShardLoad:
    """One master's current load: its address and operations per second."""

    node: str
    ops_per_sec: float


@dataclass(frozen=True)
class ShardAssessment:
    """The load of every shard and what it means.

    ``imbalance``: the busiest shard's ops/s over the mean (1.0 = perfectly even);
    ``cv``: coefficient of variation of the shards' ops/s (stdev / mean).
    """

    shards: tuple[ShardLoad, ...]
    imbalance: float
    cv: float
    hot: bool
    message: str

    @property
    def priority(self) -> str | None:
        """``"P3"`` when a shard is hot, else None."""
        return HOT_SHARD_PRIORITY if self.hot else None

    @property
    def hottest(self) -> ShardLoad | None:
        """The busiest shard, if any."""
        return max(self.shards, key=lambda s: s.ops_per_sec, default=None)


def shard_loads(stats: Mapping[str, Mapping[str, object]]) -> list[ShardLoad]:
    """Shard loads from ``INFO stats`` replies by node address."""
    return [
        ShardLoad(node, float(str(info.get("instantaneous_ops_per_sec", 0))))
        for node, info in sorted(stats.items())
    ]


def assess_shards(
    shards: list[ShardLoad],
    *,
    max_share_factor: float = DEFAULT_MAX_SHARE_FACTOR,
    min_total_ops: float = DEFAULT_MIN_TOTAL_OPS,
) -> ShardAssessment:
    """Hot (P3) when one shard takes over ``max_share_factor`` x its fair share of a
    cluster doing at least ``min_total_ops`` ops/s."""
    if max_share_factor <= 1:
        raise ConfigError(f"max_share_factor must be > 1 (1 = a perfectly even load), got {max_share_factor}")
    loads = [s.ops_per_sec for s in shards]
    total = sum(loads)
    if len(shards) < 2 or total <= 0:
        return ShardAssessment(tuple(shards), 1.0, 0.0, False, "one shard or no load: nothing to compare")
    mean = total / len(loads)
    imbalance = max(loads) / mean
    cv = statistics.pstdev(loads) / mean
    hottest = max(shards, key=lambda s: s.ops_per_sec)
    share = hottest.ops_per_sec / total
    summary = (
        f"shard {hottest.node} takes {share:.0%} of {total:.0f} ops/s across {len(shards)} shards "
        f"({imbalance:.1f}x the mean, cv {cv:.2f})"
    )
    if total >= min_total_ops and imbalance > max_share_factor:
        return ShardAssessment(
            tuple(shards), imbalance, cv, True,
            f"Hot shard: {summary}; look at the top hot keys and spread them "
            "(RedisOnlineStore.spread) or cache them (L1/L2)",
        )
    return ShardAssessment(tuple(shards), imbalance, cv, False, summary)
