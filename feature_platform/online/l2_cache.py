"""L2: a cache of stored feature rows in a separate Redis, shared by every server process.

The seed's read-through cache has two levels: L1 in each process
(:class:`~feature_platform.online.cache.L1Cache`), L2 a distributed cache in front of the
online store. A read looks in L1, then in L2 (one ``MGET``), then in the store; what the
store answered is put in L2 (``SET ... PX``) and L1. The L2 Redis holds only copies, under
``l2:`` + the store's key, each for at most its view's tier max age (off for REAL_TIME, 1 s
NEAR_REAL_TIME, 60 s BATCH, 300 s STATIC by default, as L1). Misses are cached too.

Staleness: status (EXPIRED or not) is decided at read time from the stored event time, so
L2 never serves a value past its ttl; it can serve a value up to the tier's max age older
than a newer one written by a process without this L2 (writes through a store with the L2
drop the keys they wrote). An L2 that fails is skipped (the read goes to the store) and
counted, never an error of the read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import redis

from feature_platform.errors import ConfigError
from feature_platform.online.cache import DEFAULT_MAX_AGE_S, MISSING
from feature_platform.online.connection import RedisEndpoint
from feature_platform.online.keys import l2_key
from feature_platform.specs import FreshnessTier

logger = logging.getLogger(__name__)

_INVALIDATE_BATCH = 1000


@dataclass(frozen=True)
class L2Stats:
    """Counters of an :class:`L2Cache` since it was created."""

    hits: int
    misses: int
    errors: int


class L2Cache:
    """Stored rows cached in the Redis at ``url`` (not the store's), per tier max age."""

    def __init__(
        self,
        url: str,
        max_age_s: Mapping[FreshnessTier, float] | None = None,
        *,
        socket_timeout: float = 0.25,
    ) -> None:
        endpoint = RedisEndpoint.parse(url)
        if endpoint.is_cluster:
            raise ConfigError("The L2 cache is one Redis (redis:// or rediss://), not a cluster URL")
        ages = dict(DEFAULT_MAX_AGE_S)
        for tier, age in (max_age_s or {}).items():
            if age < 0:
                raise ConfigError(f"L2Cache max age for {FreshnessTier(tier).value} must be >= 0, got {age}")
            ages[FreshnessTier(tier)] = float(age)
        self.max_age_ms = {tier: int(age * 1000) for tier, age in ages.items()}
        self.where = endpoint.where
        self.client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._lock = threading.Lock()
        self._hits = self._misses = self._errors = 0

    def enabled_for(self, tier: FreshnessTier) -> bool:
        """Whether values of ``tier`` are cached in L2 at all."""
        return self.max_age_ms[tier] > 0

    def get_many(self, keys: Sequence[bytes]) -> list[Any]:
        """Per store key the cached ``HMGET e c v`` reply, or :data:`MISSING`."""
        try:
            blobs = self.client.mget([l2_key(key) for key in keys])
        except redis.RedisError as exc:
            self._failed("reading", exc)
            return [MISSING] * len(keys)
        out = [MISSING if blob is None else msgpack.unpackb(blob) for blob in blobs]
        hits = sum(1 for item in out if item is not MISSING)
        with self._lock:
            self._hits += hits
            self._misses += len(keys) - hits
        return out

    def put_many(self, items: Iterable[tuple[bytes, FreshnessTier, Sequence[object]]]) -> None:
        """Cache ``(store key, tier, HMGET e c v reply)`` items for their tier's max age."""
        pipe = self.client.pipeline(transaction=False)
        for key, tier, reply in items:
            pipe.set(l2_key(key), msgpack.packb(list(reply)), px=self.max_age_ms[tier])
        try:
            pipe.execute()
        except redis.RedisError as exc:
            self._failed("writing", exc)

    def invalidate(self, keys: Sequence[bytes]) -> None:
        """Drop ``keys`` (the store just wrote or deleted them)."""
        try:
            for start in range(0, len(keys), _INVALIDATE_BATCH):
                self.client.delete(*(l2_key(key) for key in keys[start : start + _INVALIDATE_BATCH]))
        except redis.RedisError as exc:
            self._failed("invalidating", exc)

    @property
    def stats(self) -> L2Stats:
        """Hit/miss/error counters."""
        with self._lock:
            return L2Stats(self._hits, self._misses, self._errors)

    def close(self) -> None:
        """Release the connections."""
        self.client.close()

    def _failed(self, doing: str, exc: redis.RedisError) -> None:
        with self._lock:
            self._errors += 1
        logger.warning("L2 cache at %s failed while %s (reads go to the store): %s", self.where, doing, type(exc).__name__)
