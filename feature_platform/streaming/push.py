"""Push ingestion: validate rows against their StreamSource and append them to the log.

The SDK's ``FeatureStore.push`` and the server's ``POST /push`` both call
:func:`push_events`. A push is all or nothing: every row is checked first (a bad row raises
:class:`InvalidRowsError` naming the row and column), then one Lua script appends every
entry to its partition's stream unless a touched partition is behind (``max_lag``), in
which case :class:`BackpressureError` carries the time to wait. A tenant over its push rate
gets :class:`RateLimitedError`; an unreachable Redis the transient
``OnlineStoreUnavailableError``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from feature_platform.online.connection import translated_errors
from feature_platform.online.keys import StreamKeys
from feature_platform.online.scripts import PUSH_IF_NOT_BEHIND
from feature_platform.online.tenancy import TenantRouting
from feature_platform.rows.timestamps import utc_now_micros
from feature_platform.serving.rate_limit import TenantRateLimiter
from feature_platform.specs import FeatureView, StreamSource
from feature_platform.specs._validation import check_identifier
from feature_platform.streaming.errors import (
    BackpressureError,
    RateLimitedError,
    UnknownStreamSourceError,
)
from feature_platform.streaming.log import log_endpoint
from feature_platform.streaming.rows import as_row_dicts, encode_rows

# How long a refused producer should wait, per event of backlog above max_lag, assuming the
# processor drains about this many events per second; bounded to [MIN, MAX] seconds.
_ASSUMED_DRAIN_RATE = 20_000.0
_MIN_RETRY_AFTER = 0.5
_MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class PushResult:
    """What a push appended: the number of rows and how many went to each partition."""

    accepted: int
    partitions: dict[int, int] = field(default_factory=dict)


class StreamLog:
    """The event log of one tenant in Redis (its own connection pool).

    ``url`` is the tenant's Redis (after tenant routing); ``rate_limiter`` limits pushed
    events per second per tenant (None: unlimited).
    """

    def __init__(
        self,
        url: str,
        tenant: str = "default",
        *,
        rate_limiter: TenantRateLimiter | None = None,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 2.0,
        max_connections: int = 32,
    ) -> None:
        check_identifier(tenant, "Tenant")
        self.endpoint = log_endpoint(url)
        self.tenant = tenant
        self.rate_limiter = rate_limiter
        self.client = redis.Redis(
            connection_pool=redis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=socket_timeout,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_connect_timeout,
            )
        )
        self._push_script = self.client.register_script(PUSH_IF_NOT_BEHIND)

    def keys(self, source: StreamSource) -> StreamKeys:
        """The Redis keys of ``source`` for this tenant."""
        return StreamKeys(self.tenant, source.name)

    def push(self, source: StreamSource, rows: object, *, created_us: int | None = None) -> PushResult:
        """Append ``rows`` to ``source``'s log (see the module docstring)."""
        row_dicts = as_row_dicts(rows, source)
        created = utc_now_micros() if created_us is None else created_us
        entries = encode_rows(source, row_dicts, created)
        if not entries:
            return PushResult(0)
        if self.rate_limiter is not None:
            wait = self.rate_limiter.acquire(self.tenant, len(entries))
            if wait > 0:
                rate = self.rate_limiter.rate_for(self.tenant) or 0.0
                raise RateLimitedError(self.tenant, rate, wait)
        by_partition: dict[int, list[bytes]] = {}
        for partition, entry in entries:
            by_partition.setdefault(partition, []).append(entry)
        partitions = sorted(by_partition)
        keys = self.keys(source)
        argv: list[Any] = [source.max_lag, *(len(by_partition[p]) for p in partitions)]
        for p in partitions:
            argv += by_partition[p]
        with translated_errors(self.endpoint, f"pushing to stream {source.name!r}"):
            reply = self._push_script(keys=[keys.log(p) for p in partitions], args=argv)
        if int(reply[0]) != 0:
            partition, lag = partitions[int(reply[1]) - 1], int(reply[2])
            backlog = lag - source.max_lag
            retry_after = min(_MAX_RETRY_AFTER, max(_MIN_RETRY_AFTER, backlog / _ASSUMED_DRAIN_RATE))
            raise BackpressureError(source.name, partition, lag, source.max_lag, retry_after)
        return PushResult(len(entries), {p: len(by_partition[p]) for p in partitions})

    def lengths(self, source: StreamSource) -> dict[int, int]:
        """The number of entries per partition (the backlog, since acknowledged entries are trimmed)."""
        with translated_errors(self.endpoint, f"reading stream {source.name!r}"):
            pipe = self.client.pipeline(transaction=False)
            keys = self.keys(source)
            for p in range(source.partitions):
                pipe.xlen(keys.log(p))
            return dict(enumerate(int(n) for n in pipe.execute()))

    def close(self) -> None:
        """Close the connections."""
        self.client.connection_pool.disconnect()


def push_events(log: StreamLog, source: StreamSource, rows: object) -> PushResult:
    """Validate ``rows`` against ``source`` and append them to ``log`` (all or nothing)."""
    return log.push(source, rows)


def stream_sources(views: Iterable[FeatureView]) -> dict[str, StreamSource]:
    """The StreamSources read by ``views``, by name."""
    sources: dict[str, StreamSource] = {}
    for view in views:
        if view.is_stream:
            sources.setdefault(view.stream_source.name, view.stream_source)
    return sources


def find_source(views: Iterable[FeatureView], source: str | StreamSource) -> StreamSource:
    """``source`` itself, or the StreamSource of that name read by ``views``."""
    if isinstance(source, StreamSource):
        return source
    sources = stream_sources(views)
    try:
        return sources[source]
    except KeyError:
        raise UnknownStreamSourceError(str(source), list(sources)) from None


class TenantLogs:
    """One :class:`StreamLog` per tenant (on the tenant's routed Redis), sharing a push
    rate limiter: what the feature server pushes through."""

    def __init__(self, url: str, routing: TenantRouting | None = None, *, rate_limiter: TenantRateLimiter | None = None) -> None:
        self.url = url
        self.routing = routing or TenantRouting()
        self.rate_limiter = rate_limiter
        self._logs: dict[str, StreamLog] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant: str) -> StreamLog:
        """The log of ``tenant`` (created on first use)."""
        with self._lock:
            log = self._logs.get(tenant)
            if log is None:
                log = StreamLog(self.routing.url_for(tenant, self.url), tenant, rate_limiter=self.rate_limiter)
                self._logs[tenant] = log
            return log

    def close(self) -> None:
        """Close every log's connections."""
        with self._lock:
            for log in self._logs.values():
                log.close()
