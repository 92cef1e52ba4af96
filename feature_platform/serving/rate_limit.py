"""Per-tenant request rate limiting for the feature server (token buckets)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from feature_platform.errors import ConfigError


class TenantRateLimiter:
    """A token bucket per tenant: ``rate`` requests/s sustained, bursts up to ``burst``.

    ``per_tenant`` overrides the rate of named tenants (their burst scales with it);
    ``rate=None`` leaves tenants without an override unlimited.
    """

    def __init__(
        self,
        rate: float | None = None,
        *,
        burst: float | None = None,
        per_tenant: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in [("rate", rate), ("burst", burst), *((f"rate of tenant {t!r}", r) for t, r in (per_tenant or {}).items())]:
            if value is not None and value <= 0:
                raise ConfigError(f"Rate limit {name} must be > 0, got {value}")
        self._rate = rate
        self._burst = burst
        self._per_tenant = dict(per_tenant or {})
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def rate_for(self, tenant: str) -> float | None:
        """Requests/s allowed for ``tenant`` (None: unlimited)."""
        return self._per_tenant.get(tenant, self._rate)

    def allow(self, tenant: str) -> bool:
        """Take one token of ``tenant``'s bucket; False when it is empty."""
        return self.acquire(tenant) == 0.0

    def acquire(self, tenant: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens of ``tenant``'s bucket: 0.0 when granted, else the seconds to
        wait before the same call can succeed (nothing taken).

        A cost above the bucket's capacity is granted from a full bucket, leaving a debt
        that later calls wait out, so a large push is slowed down, never refused forever.
        """
        rate = self.rate_for(tenant)
        if rate is None:
            return 0.0
        capacity = self._burst if self._burst is not None and tenant not in self._per_tenant else max(rate, 1.0)
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(tenant, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            needed = min(cost, capacity)
            if tokens < needed:
                self._buckets[tenant] = (tokens, now)
                return (needed - tokens) / rate
            self._buckets[tenant] = (tokens - cost, now)
            return 0.0
