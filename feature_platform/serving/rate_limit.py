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
        rate = self.rate_for(tenant)
        if rate is None:
            return True
        capacity = self._burst if self._burst is not None and tenant not in self._per_tenant else max(rate, 1.0)
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(tenant, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[tenant] = (tokens, now)
                return False
            self._buckets[tenant] = (tokens - 1.0, now)
            return True
