"""The one error hierarchy of feature_platform.

Every error the platform raises on purpose derives from :class:`FeaturePlatformError`.
Each error also says whether retrying can help: :class:`TransientError` (an outage, a
dropped connection: a Dagster ``RetryPolicy`` may retry it) or :class:`TerminalError`
(bad input or config: fail fast, fix the input).
"""

from __future__ import annotations


class FeaturePlatformError(Exception):
    """Root of every error raised by feature_platform."""


class TransientError(FeaturePlatformError):
    """A failure that may go away on retry (network, a server restarting)."""


class TerminalError(FeaturePlatformError):
    """A failure that a retry cannot fix: the input, the config or the code is wrong."""


class SpecError(TerminalError, ValueError):
    """A feature definition (entity, feature view, service) is invalid."""


class ConfigError(TerminalError, ValueError):
    """A setting (URL, path, option) is missing or malformed."""


class UnknownFeatureViewError(TerminalError, KeyError):
    """A feature view name is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(
            f"Feature view {name!r} does not exist; known views: {', '.join(sorted(known)) or 'none'}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownFeatureError(TerminalError, KeyError):
    """A feature reference names a feature its view does not have."""

    def __init__(self, reference: str, known: list[str]) -> None:
        self.reference = reference
        super().__init__(
            f"Feature {reference!r} does not exist; features of that view: "
            f"{', '.join(known) or 'none'}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownFeatureServiceError(TerminalError, KeyError):
    """A feature service name is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(
            f"Feature service {name!r} does not exist; known services: "
            f"{', '.join(sorted(known)) or 'none'}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class SchemaError(TerminalError, ValueError):
    """Input data does not have the columns or types a call needs."""


class MissingColumnError(SchemaError):
    """A required column is absent from an input frame or table."""

    def __init__(self, column: str, where: str, hint: str = "") -> None:
        self.column = column
        message = f"Column {column!r} is missing from {where}"
        super().__init__(f"{message}. {hint}" if hint else message)


class NullValueError(SchemaError):
    """A join key or timestamp that must be set is null."""


class TimestampError(SchemaError):
    """A timestamp column has the wrong type or cannot be read as UTC."""


class FeatureNameCollisionError(SchemaError):
    """Two requested features would land in the same output column."""


class PartitionWindowError(TerminalError, ValueError):
    """A write window is empty or does not start and end on partition boundaries."""


class RowOutsideWindowError(SchemaError):
    """A row's event_timestamp lies outside the window being written."""


class OfflineStoreError(FeaturePlatformError):
    """The offline store cannot read or write a partition."""


class OnlineStoreError(TerminalError):
    """The online store rejected a read or write for a reason a retry will not fix."""


class OnlineStorePermissionError(OnlineStoreError):
    """Redis ACLs refused a command: the credentials may not touch these keys."""


class GenerationError(OnlineStoreError):
    """A generation of a view's online values cannot be published, flipped to or rolled
    back to (the message says why; the served generation is unchanged)."""


class OnlineStoreUnavailableError(TransientError):
    """The online store (Redis) cannot be reached."""
