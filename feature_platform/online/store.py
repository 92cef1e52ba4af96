"""The online-store interface: what the IO manager, the SDK and the server rely on."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from feature_platform.online.hotspots import ShardLoad
from feature_platform.online.response import OnlineResponse
from feature_platform.online.results import (
    CleanupResult,
    ProgressCallback,
    PublishMarker,
    WriteResult,
)
from feature_platform.specs import FeatureView, ViewRequest

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from feature_platform.online.cache import L1Cache
    from feature_platform.streaming.push import TenantLogs

EntityRecord = tuple[dict[str, object], datetime, datetime, dict[str, Any]]
"""One stored entity: join keys, event timestamp, created timestamp, feature values."""


class OnlineStore(abc.ABC):
    """Latest feature values per (tenant, feature view, entity), with the rules of
    SEMANTICS.md: the largest ``(event_timestamp, created_timestamp)`` wins, atomically;
    values past the view's ttl are reported EXPIRED and never served."""

    tenant: str
    cache: L1Cache | None = None
    """The in-process cache in front of the store, if any (the server reports its stats)."""

    @abc.abstractmethod
    def publish(
        self,
        view: FeatureView,
        rows: pa.Table | pd.DataFrame,
        *,
        now: datetime | None = None,
        progress: ProgressCallback | None = None,
        rate_limit: float | None = None,
    ) -> WriteResult:
        """Publish ``rows`` (join keys, event/created timestamps, every feature): the one
        online write path, used by the IO manager, incremental runs, backfills and the CLI.

        The rows are converted once (:func:`feature_platform.rows.view_table`) and reduced
        once to the largest pair per entity, which is written only where it is >= the
        stored pair. Rows already expired at ``now`` are skipped. ``now`` defaults to the
        wall clock; an explicit ``now`` (tests, simulations) also shifts key expiry so a
        key lives ``ttl`` after its event time in that clock. ``progress`` is called after
        each round trip with a :class:`~feature_platform.online.results.PublishProgress`.
        ``rate_limit`` (rows/s) holds this publish below the store's own write rate limit
        (the lower of the two applies): an off-peak backfill's reduced rate.
        """

    def write(
        self,
        view: FeatureView,
        table: pa.Table | pd.DataFrame,
        *,
        now: datetime | None = None,
    ) -> WriteResult:
        """:meth:`publish` without a progress callback."""
        return self.publish(view, table, now=now)

    @abc.abstractmethod
    def read(
        self,
        requests: Sequence[ViewRequest],
        entity_rows: Sequence[Mapping[str, object]],
        *,
        now: datetime | None = None,
        full_feature_names: bool = False,
    ) -> OnlineResponse:
        """Features of ``requests`` for each entity row, in one round trip to the store."""

    @abc.abstractmethod
    def iter_entities(self, view: FeatureView, *, include_expired: bool = False,
                      now: datetime | None = None) -> Iterator[EntityRecord]:
        """Every stored entity of ``view`` (expired ones only if ``include_expired``)."""

    @abc.abstractmethod
    def delete_entities(self, view: FeatureView, keys: Iterable[Mapping[str, object]]) -> int:
        """Delete the given entities of ``view``; returns how many existed."""

    @abc.abstractmethod
    def cleanup(
        self,
        view: FeatureView,
        now: datetime | None = None,
        existing_keys: Iterable[Mapping[str, object]] | None = None,
    ) -> CleanupResult:
        """Active cleanup: remove expired values and, if ``existing_keys`` is given, every
        entity not in it."""

    def shard_loads(self) -> list[ShardLoad]:
        """Each shard's current ops/s (for hot-spot detection); none for a store without shards."""
        return []

    @abc.abstractmethod
    def write_marker(self, view: FeatureView, marker: PublishMarker) -> None:
        """Replace ``view``'s publish marker (see :class:`PublishMarker`)."""

    @abc.abstractmethod
    def read_marker(self, view: FeatureView) -> PublishMarker | None:
        """``view``'s publish marker, or None when the store has none."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise OnlineStoreUnavailableError if the store cannot be reached."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def served_tenants(self) -> frozenset[str]:
        """Every tenant :meth:`for_tenant` can serve (by default only :attr:`tenant`)."""
        return frozenset({self.tenant})

    def event_logs(self) -> TenantLogs | None:
        """The per-tenant event logs that ``POST /push`` appends to beside this store, or
        None when the store hosts none (the server then offers no ``/push``)."""
        return None

    def for_tenant(self, tenant: str) -> OnlineStore:
        """The same store bound to another tenant (stores without tenants refuse)."""
        if tenant == self.tenant:
            return self
        from feature_platform.errors import ConfigError

        raise ConfigError(f"{type(self).__name__} serves tenant {self.tenant!r} only, not {tenant!r}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
