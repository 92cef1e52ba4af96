"""The Redis online store: :class:`RedisOnlineStore`, assembled from its operations.

The operations live in small modules: :mod:`.store_core` (settings, pools, key layouts,
publish markers), :mod:`.store_reads`, :mod:`.store_writes`, :mod:`.store_spreading` (hot
keys), :mod:`.store_cleanup` (scans, deletes, cleanup) and :mod:`.store_generations`
(generations of a view's values, for an atomic swap; :mod:`.generations`). Keys are built and parsed by
:mod:`feature_platform.online.keys` only, round trips go through
:mod:`feature_platform.online.transport`. One hash per entity,
``fs:<tenant>:<view>:{<bucket>}<entity>`` (``<view>~g<n>:`` in generation ``n`` of a view,
see :mod:`.generations`), with three fields:

* ``e``: event timestamp, integer microseconds since the Unix epoch (UTC);
* ``c``: created timestamp, same unit;
* ``v``: the feature values, one msgpack map (see :mod:`feature_platform.online.codec`),
  zlib-compressed above 1 KB.

Writes go through the ``WRITE_IF_NEWER`` Lua script (:mod:`feature_platform.online.scripts`):
atomic compare-and-set on ``(e, c)``, ``PEXPIREAT`` at ``event_timestamp + ttl``, many keys
per ``EVALSHA``, several ``EVALSHA`` per pipelined round trip (``batch_size`` rows), with an
optional rows/s limit so a backfill leaves room for reads. Keys expire (Redis) at
``event_timestamp + ttl + expiry_grace`` (60 s by default, for clock skew). A read
sends one ``HMGET e c v`` per (view, entity) in ONE pipelined round trip and decides EXPIRED from ``e`` at read time,
so the ttl boundary is exact whatever Redis's lazy expiry does.

On a Redis Cluster the same operations run through the cluster transport: a write sorts its
rows by hash-tag bucket so each script call's keys share a slot, and a round trip becomes one
pipelined round trip per node involved, in parallel.

Recommended ``maxmemory-policy``: ``volatile-ttl`` when every view has a ttl (under memory
pressure Redis drops the values closest to expiring, never a value without ttl), or
``allkeys-lru`` as the backup of the seed when some views have no ttl. Never
``noeviction`` for a store that backfills: writes would fail when memory is full. A read
of an evicted value answers NOT_FOUND; the daily cleanup and the next materialization put
it back (``feature_platform_tests/online/test_eviction.py``).
"""

from __future__ import annotations

from typing import cast

from feature_platform.online.store_cleanup import StoreCleanup
from feature_platform.online.store_generations import StoreGenerations
from feature_platform.online.store_reads import REPLICA_TIERS, StoreReads
from feature_platform.online.store_spreading import StoreSpreading
from feature_platform.specs import FeatureView

__all__ = ["REPLICA_TIERS", "RedisOnlineStore"]


class RedisOnlineStore(StoreReads, StoreSpreading, StoreCleanup, StoreGenerations):
    """The online store on Redis (see the module docstring for layout and rules; the
    constructor's settings: :class:`~feature_platform.online.store_core.RedisStoreCore`)."""

    def for_tenant(self, tenant: str) -> RedisOnlineStore:
        """The same store for ``tenant``: its own key prefix, routing target and pool."""
        if tenant == self.tenant:
            return self
        store = cast("RedisOnlineStore | None", self._siblings.get(tenant))
        if store is None:
            store = RedisOnlineStore(
                self.url, tenant, _pools=self._pools, _siblings=self._siblings, **self._settings  # type: ignore[arg-type]
            )
        return store

    def pinned(self, view: FeatureView, generation: int) -> RedisOnlineStore:
        """This store (same tenant and pool, no caches) reading and writing ``generation``
        of ``view`` whatever generation is served: to load and validate a new generation
        before the flip. Do not close it (it shares this store's pool)."""
        settings = {**self._settings, "cache": None, "l2": None}
        return RedisOnlineStore(
            self.url, self.tenant, _pools=self._pools, _siblings={}, _pinned={view.name: generation}, **settings  # type: ignore[arg-type]
        )
