"""Errors of the real-time path (all derive from FeaturePlatformError)."""

from __future__ import annotations

from feature_platform.errors import ConfigError, SchemaError, TerminalError, TransientError


class InvalidRowsError(SchemaError):
    """A pushed row does not fit its StreamSource; nothing of the push was appended."""

    def __init__(self, row: int, column: str | None, problem: str) -> None:
        self.row = row
        self.column = column
        where = f"row {row}" if column is None else f"row {row}, column {column!r}"
        super().__init__(f"Push refused, nothing appended: {where}: {problem}")


class BackpressureError(TransientError):
    """A stream partition is too far behind: retry the push after ``retry_after`` seconds.

    Nothing of the push was appended; ``partition`` is the partition whose lag (unprocessed
    events) is above its source's ``max_lag``.
    """

    def __init__(self, source: str, partition: int, lag: int, max_lag: int, retry_after: float) -> None:
        self.source = source
        self.partition = partition
        self.lag = lag
        self.max_lag = max_lag
        self.retry_after = retry_after
        super().__init__(
            f"Stream {source!r} partition {partition} has {lag} unprocessed events (max_lag "
            f"{max_lag}); nothing appended, retry in {retry_after:.1f} s"
        )


class RateLimitedError(TransientError):
    """The tenant is over its push rate: retry after ``retry_after`` seconds."""

    def __init__(self, tenant: str, rate: float, retry_after: float) -> None:
        self.tenant = tenant
        self.rate = rate
        self.retry_after = retry_after
        super().__init__(
            f"Tenant {tenant!r} is over its push rate of {rate:g} events/s; nothing appended, "
            f"retry in {retry_after:.2f} s"
        )


class StreamOnClusterError(ConfigError):
    """The real-time path was pointed at a Redis Cluster; it runs on a single Redis."""


class PartitionOwnedError(TransientError):
    """Another live processor holds the lease of a stream partition."""


class UnknownStreamSourceError(TerminalError, KeyError):
    """A push names a stream source that no feature view reads."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(
            f"Stream source {name!r} is not read by any feature view; known stream sources: "
            f"{', '.join(sorted(known)) or 'none'}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class StreamQueryFailedError(TerminalError):
    """A Spark streaming query of the stream engine stopped with an error."""

    def __init__(self, query: str, cause: object) -> None:
        super().__init__(
            f"Spark stream query {query!r} failed: {cause}. Fix the cause and start it again: it resumes "
            "from its checkpoint, and batches already applied are not applied twice"
        )
