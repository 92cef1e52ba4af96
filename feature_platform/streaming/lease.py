"""One owner per stream partition: a lease in Redis, and processor heartbeats.

A processor holds partition p while the key ``~lease:{source}:{p}`` names it; it renews the
lease well within its ttl and gives it back when it stops. A second processor started for
the same partition cannot take a live lease: it waits until the lease expires (the owner
died) or is released. Losing a lease is not enough to stop a slow owner from writing, so
the batch script checks the lease too (fencing): a batch of a former owner is refused.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable

import redis

from feature_platform.online.keys import StreamKeys
from feature_platform.online.scripts import ACQUIRE_LEASE, RELEASE_LEASE


def new_owner_id() -> str:
    """A processor id unique across hosts and restarts: ``host-pid-random``."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Leases:
    """Acquire, renew and release partition leases for one owner."""

    def __init__(self, client: redis.Redis, owner: str, ttl_ms: int) -> None:
        self.client = client
        self.owner = owner
        self.ttl_ms = ttl_ms
        self._acquire = client.register_script(ACQUIRE_LEASE)
        self._release = client.register_script(RELEASE_LEASE)

    def hold(self, keys: StreamKeys, partitions: Iterable[int]) -> dict[int, bool]:
        """Take or renew the leases of ``partitions``: whether this owner holds each now."""
        wanted = list(partitions)
        pipe = self.client.pipeline(transaction=False)
        for p in wanted:
            self._acquire(keys=[keys.lease(p)], args=[self.owner, self.ttl_ms], client=pipe)
        return {p: bool(held) for p, held in zip(wanted, pipe.execute(), strict=True)}

    def release(self, keys: StreamKeys, partitions: Iterable[int]) -> None:
        """Give back the leases of ``partitions`` this owner holds."""
        for p in partitions:
            self._release(keys=[keys.lease(p)], args=[self.owner])

    def heartbeat(self, keys: StreamKeys, owned: Iterable[int], interval_s: float) -> None:
        """Record that this owner is alive (expires after three missed heartbeats)."""
        key = keys.processor(self.owner)
        now_ms = time.time_ns() // 1_000_000
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping={"heartbeat_ms": now_ms, f"partitions:{keys.source}": ",".join(map(str, sorted(owned)))})
        pipe.pexpire(key, max(1000, int(interval_s * 3000)))
        pipe.execute()
