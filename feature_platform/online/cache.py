"""L1: an in-process cache of stored feature rows, for very hot entities.

A few hot entities (a celebrity user, a popular item) would otherwise hit one Redis shard
on every request. The cache keeps the raw stored row (event time, created time, values)
per Redis key, size-bounded (LRU) and for at most a per-freshness-tier age: off for
REAL_TIME, 1 s for NEAR_REAL_TIME, 60 s for BATCH, 300 s for STATIC by default. Status
(EXPIRED or not) is computed at read time from the stored event time, so caching never
serves a value past its ttl; it can serve a value up to the tier's max age older than a
newer one written by ANOTHER process (writes through the same store invalidate). Misses
(no value stored) are cached too: a hot unknown entity is as hot as a known one.

While the store is unavailable, a read whose every key L1 still holds (up to ``max_stale_s``
old, whatever the tier's max age) is answered from L1 (:func:`answer_from_l1`): the
response says so (``served_from == "l1_cache_stale"``) and carries each value's cache age.

A :class:`HotKeyTracker` counts accesses per key and reports the top hot keys (the
seed's detection step), whether or not the tier is cached.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from feature_platform.errors import ConfigError, OnlineStoreUnavailableError
from feature_platform.online.keys import parse_key
from feature_platform.online.response import OnlineResponse, StoredRow
from feature_platform.specs import FreshnessTier, ViewRequest

DEFAULT_MAX_AGE_S: dict[FreshnessTier, float] = {
    FreshnessTier.REAL_TIME: 0.0,
    FreshnessTier.NEAR_REAL_TIME: 1.0,
    FreshnessTier.BATCH: 60.0,
    FreshnessTier.STATIC: 300.0,
}


@dataclass(frozen=True)
class CacheStats:
    """Counters of an :class:`L1Cache` since it was created."""

    hits: int
    misses: int
    evictions: int
    size: int

    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses), 0 before the first lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@dataclass(frozen=True)
class HotKey:
    """A frequently read key: the tenant, view, entity key values and the access count."""

    tenant: str
    view: str
    entity: tuple[object, ...]
    count: int


class HotKeyTracker:
    """Approximate per-key access counts in bounded memory.

    Keeps at most ``2 * capacity`` counters; when full it keeps the ``capacity`` largest.
    A key that is really hot survives every pruning, which is all detection needs.
    """

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ConfigError(f"HotKeyTracker capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._counts: Counter[bytes] = Counter()
        self._lock = threading.Lock()

    def record(self, keys: Iterable[bytes]) -> None:
        """Count one access of each key."""
        with self._lock:
            counts = self._counts
            for key in keys:
                counts[key] += 1
            if len(counts) > 2 * self.capacity:
                self._counts = Counter(dict(counts.most_common(self.capacity)))

    def top(self, n: int = 10) -> list[HotKey]:
        """The ``n`` most accessed keys, most accessed first."""
        with self._lock:
            common = self._counts.most_common(n)
        return [_hot_key(key, count) for key, count in common]


def _hot_key(key: bytes, count: int) -> HotKey:
    parsed = parse_key(key)
    return HotKey(parsed.tenant, parsed.view, parsed.entity, count)


_MISSING = object()


class L1Cache:
    """A size-bounded LRU of stored rows with a maximum age per freshness tier.

    ``max_age_s`` overrides the defaults per tier (0 turns a tier off). ``max_stale_s``:
    how old a value may be to be served while the store is unavailable (0: never). Thread-safe.
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        max_age_s: Mapping[FreshnessTier, float] | None = None,
        *,
        hot_key_capacity: int = 1000,
        max_stale_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ConfigError(f"L1Cache max_entries must be >= 1, got {max_entries}")
        if not max_stale_s >= 0:
            raise ConfigError(f"L1Cache max_stale_s must be >= 0 seconds, got {max_stale_s}")
        ages = dict(DEFAULT_MAX_AGE_S)
        for tier, age in (max_age_s or {}).items():
            if age < 0:
                raise ConfigError(f"L1Cache max age for {FreshnessTier(tier).value} must be >= 0, got {age}")
            ages[FreshnessTier(tier)] = float(age)
        self.max_entries = max_entries
        self.max_age_s = ages
        self.max_stale_s = float(max_stale_s)
        self.hot_keys = HotKeyTracker(hot_key_capacity)
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, StoredRow | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def enabled_for(self, tier: FreshnessTier) -> bool:
        """Whether values of ``tier`` are cached at all."""
        return self.max_age_s[tier] > 0

    def get_many(
        self, keys: list[bytes], tier: FreshnessTier
    ) -> list[StoredRow | None | object]:
        """Per key the cached row (``None`` = cached as absent) or :data:`MISSING`."""
        max_age = self.max_age_s[tier]
        out: list[StoredRow | None | object] = []
        with self._lock:
            entries = self._entries
            oldest = self._clock() - max_age
            for key in keys:
                entry = entries.get(key)
                if entry is None or entry[0] < oldest:
                    out.append(_MISSING)
                    self._misses += 1
                else:
                    entries.move_to_end(key)
                    out.append(entry[1])
                    self._hits += 1
        return out

    def get_stale(self, keys: list[bytes], tier: FreshnessTier) -> list[tuple[StoredRow | None, float]] | None:
        """Per key the cached row and its age in seconds, however far past the tier's max
        age (up to ``max_stale_s``); None unless every key is held that long."""
        if not self.enabled_for(tier):
            return None
        out: list[tuple[StoredRow | None, float]] = []
        with self._lock:
            now = self._clock()
            for key in keys:
                entry = self._entries.get(key)
                if entry is None or now - entry[0] > self.max_stale_s:
                    return None
                out.append((entry[1], now - entry[0]))
        return out

    def put_many(self, items: Iterable[tuple[bytes, StoredRow | None]]) -> None:
        """Cache rows just read from the store."""
        with self._lock:
            now = self._clock()
            entries = self._entries
            for key, row in items:
                entries[key] = (now, row)
                entries.move_to_end(key)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
                self._evictions += 1

    def invalidate(self, keys: Iterable[bytes]) -> None:
        """Forget ``keys`` (after this process wrote or deleted them)."""
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything (counters stay)."""
        with self._lock:
            self._entries.clear()

    @property
    def stats(self) -> CacheStats:
        """Hit/miss/eviction counters and the current size."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries))


MISSING = _MISSING
"""Marker returned by :meth:`L1Cache.get_many` for keys not (or no longer) cached."""


def answer_from_l1(
    cache: L1Cache,
    error: OnlineStoreUnavailableError,
    requests: Sequence[ViewRequest],
    request_keys: Sequence[list[bytes]],
    aggregates: Sequence[bool],
    join_keys: Sequence[str],
    key_rows: Sequence[Sequence[object]],
    now_micros: int,
    full_feature_names: bool,
) -> OnlineResponse:
    """The answer of a read that the store failed with ``error``, from L1 alone, marked
    ``l1_cache_stale`` with each value's cache age; ``error`` again unless L1 holds every
    key (windowed aggregates are never cached: their reads always need the store)."""
    if any(aggregates):
        raise error
    records: list[list[StoredRow | None]] = []
    ages: list[list[int]] = []
    for request, keys in zip(requests, request_keys, strict=True):
        held = cache.get_stale(keys, request.view.tier)
        if held is None:
            raise error
        records.append([row for row, _ in held])
        ages.append([round(age * 1000) for _, age in held])
    return OnlineResponse(
        join_keys, key_rows, requests, records, now_micros, full_feature_names=full_feature_names, cache_ages_ms=ages
    )
