"""Key spreading driven by detection: the keys the hot-key tracker finds hot become spread.

:class:`HotKeyPromoter` looks at the ``candidates`` most read keys of the L1 cache's
:class:`~feature_platform.online.cache.HotKeyTracker` and spreads over ``copies`` keys
(:meth:`~feature_platform.online.store_spreading.StoreSpreading.spread`) each one read at
least ``min_reads_per_s`` times a second since the previous pass and not spread yet. The
feature server runs a pass every ``interval_s`` on a thread of its own
(``online_read.spread_hot_keys_above`` in the settings).

Spreading copies the key's current value and then registers the key in the tenant's
registry in Redis (:func:`~feature_platform.online.keys.hot_registry_key`), so every process
agrees on it: writers reload the registry at each write and keep every copy consistent
through the same compare-and-set, readers reload it every ``spread_refresh_s``. Promotion
is one way: a key that cools down stays spread until ``unspread`` (its copies cost memory,
never correctness).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from feature_platform.errors import ConfigError, FeaturePlatformError
from feature_platform.online.cache import HotKey
from feature_platform.online.keys import entity_key_values, hot_registry_key
from feature_platform.online.redis_store import RedisOnlineStore
from feature_platform.specs import FeatureView

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromotionPolicy:
    """When a read key gets spread: read ``min_reads_per_s`` times a second or more since the
    previous pass, among the tracker's ``candidates`` most read keys; into ``copies`` keys."""

    min_reads_per_s: float = 500.0
    copies: int = 3
    candidates: int = 20

    def __post_init__(self) -> None:
        if self.min_reads_per_s <= 0:
            raise ConfigError(f"min_reads_per_s must be > 0, got {self.min_reads_per_s}")
        if self.copies < 2:
            raise ConfigError(f"copies must be >= 2 (the key and at least one copy), got {self.copies}")
        if self.candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {self.candidates}")


@dataclass(frozen=True)
class Promotion:
    """A key this pass spread: which, and how often it was read per second."""

    key: HotKey
    reads_per_s: float


class HotKeyPromoter:
    """Spreads the hot keys that ``store``'s L1 hot-key tracker detects (see the module
    docstring); ``views`` by name resolve the tracked keys' views."""

    def __init__(
        self,
        store: RedisOnlineStore,
        views: Mapping[str, FeatureView],
        policy: PromotionPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if store.cache is None:
            raise ConfigError("Hot-key promotion needs the store's L1 cache: its tracker detects the hot keys")
        self.store = store
        self.views = dict(views)
        self.policy = policy or PromotionPolicy()
        self._tracker = store.cache.hot_keys
        self._clock = clock
        self._seen: dict[tuple[str, str, tuple[object, ...]], int] = {}
        self._seen_at = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def promote(self) -> list[Promotion]:
        """One pass: spread every candidate read often enough since the previous pass and
        not spread yet; returns what it spread."""
        now = self._clock()
        elapsed = max(now - self._seen_at, 1e-9)
        top = self._tracker.top(self.policy.candidates)
        hot: list[Promotion] = []
        for key in top:
            before = self._seen.get((key.tenant, key.view, key.entity))
            # The tracker counts since the process started: a key seen for the first time (or
            # whose count the tracker pruned and restarted) gives this pass its baseline.
            if before is None or key.count < before:
                continue
            reads = (key.count - before) / elapsed
            if reads >= self.policy.min_reads_per_s and key.view in self.views:
                hot.append(Promotion(key, reads))
        self._seen = {(k.tenant, k.view, k.entity): k.count for k in top}
        self._seen_at = now
        by_target: dict[tuple[str, str], list[Promotion]] = {}
        for promotion in hot:
            by_target.setdefault((promotion.key.tenant, promotion.key.view), []).append(promotion)
        done = []
        for (tenant, name), promotions in by_target.items():
            done += self._spread(tenant, self.views[name], promotions)
        return done

    def _spread(self, tenant: str, view: FeatureView, promotions: list[Promotion]) -> list[Promotion]:
        store = self.store.for_tenant(tenant)
        names = list(view.join_key_types)
        entities = [dict(zip(names, p.key.entity, strict=True)) for p in promotions]
        layout = store.view_keys(view)
        keys = [layout.key(entity_key_values(e, view, "a hot key's entity")) for e in entities]
        registry = hot_registry_key(tenant)
        spread = store.transport.execute(
            [("HEXISTS", registry, key) for key in keys], f"reading the spread hot keys of {view.name!r}"
        )
        new = [i for i, already in enumerate(spread) if not already]
        if new:
            store.spread(view, [entities[i] for i in new], copies=self.policy.copies)
            for i in new:
                logger.info(
                    "Spread hot key %s %s (%.0f reads/s) over %d keys",
                    view.name, promotions[i].key.entity, promotions[i].reads_per_s, self.policy.copies,
                )
        return [promotions[i] for i in new]

    def start(self, interval_s: float = 10.0) -> HotKeyPromoter:
        """Run a pass every ``interval_s`` seconds on a daemon thread until :meth:`stop`; a
        pass that fails (Redis unreachable) is logged and the next one tries again."""
        if interval_s <= 0:
            raise ConfigError(f"interval_s must be > 0, got {interval_s}")

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.promote()
                except FeaturePlatformError as error:
                    logger.warning("Hot-key promotion pass failed: %s", error)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="hot-key-promotion", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread :meth:`start` started (a pass under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
