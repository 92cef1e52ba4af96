"""What an online write and an active cleanup report back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WriteResult:
    """Counts of one :meth:`OnlineStore.publish` call.

    ``rows_in``: rows of the input table. ``entities``: distinct entities after keeping the
    largest ``(event_timestamp, created_timestamp)`` per entity. Each entity is then either
    ``written`` (incoming pair >= stored pair, and Redis did not already hold exactly this
    row: a real change), ``unchanged`` (Redis already held the same pair and value; a no-op
    rerun reports only these), ``skipped_not_newer`` (the stored pair was greater:
    compare-and-set kept it) or ``skipped_expired`` (already past its ttl at ``now``, so
    never written).
    """

    rows_in: int
    entities: int
    written: int
    skipped_not_newer: int
    skipped_expired: int
    unchanged: int = 0


@dataclass(frozen=True)
class PublishProgress:
    """Where a running :meth:`OnlineStore.publish` is, reported after each round trip.

    ``done`` of ``entities`` (the distinct entities of the input) are decided; of those,
    ``written`` replaced the stored value, ``unchanged`` were identical to it and
    ``skipped_expired`` were past their ttl (the rest kept a newer stored value).
    ``elapsed_s``: seconds since the publish started.
    """

    view: str
    rows_in: int
    entities: int
    done: int
    written: int
    skipped_expired: int
    elapsed_s: float
    unchanged: int = 0

    @property
    def skipped_not_newer(self) -> int:
        """Entities decided so far whose stored value was newer."""
        return self.done - self.written - self.unchanged - self.skipped_expired

    @property
    def rows_per_s(self) -> float:
        """Entities decided per second so far."""
        return self.done / max(self.elapsed_s, 1e-9)


ProgressCallback = Callable[[PublishProgress], None]
"""Called by :meth:`OnlineStore.publish` after each round trip (and once for no rows)."""


@dataclass(frozen=True)
class MergeResult:
    """What merging new features into a view's stored values did: of ``entities``,
    ``merged`` values got the features (copies of spread hot keys included), ``absent``
    were not in Redis, ``other_pair`` held another row (a newer one is never touched)."""

    view: str
    features: tuple[str, ...]
    entities: int
    merged: int
    absent: int
    other_pair: int


@dataclass(frozen=True)
class PublishMarker:
    """The marker a publish leaves per (tenant, view): which run wrote last, how many
    entities it published, and when. A store that lost its data has no marker (or one a
    restore brought back from another time), which is how the loss is noticed."""

    run_id: str
    entities: int
    written_at: str


@dataclass(frozen=True)
class CleanupResult:
    """What :meth:`OnlineStore.cleanup` removed from one view.

    ``scanned``: entities looked at. ``removed_expired``: values past their ttl.
    ``removed_gone``: entities no longer in the caller's ``existing_keys``. ``examples``:
    up to :data:`MAX_CLEANUP_EXAMPLES` of the removed entity keys, for the run's log.
    """

    view: str
    scanned: int
    removed_expired: int
    removed_gone: int
    examples: tuple[Mapping[str, object], ...] = field(default=())

    @property
    def removed(self) -> int:
        """Entities removed in total."""
        return self.removed_expired + self.removed_gone


MAX_CLEANUP_EXAMPLES = 100
