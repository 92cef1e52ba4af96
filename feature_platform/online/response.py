"""The answer of an online read: per entity and feature a value, its event time and a status.

``to_dict()`` shape (Feast-like, one list per column, one element per entity row, in the
caller's order)::

    {
        "user_id": [1, 2],                              # every join key asked for
        "country": ["US", None],                        # or "user_profile__country"
        "country__status": ["PRESENT", "NOT_FOUND"],    # FeatureStatus values
        "country__event_timestamp": [datetime(..., tzinfo=UTC), None],
        ...
    }

Feature columns are named ``feature`` or, with ``full_feature_names=True``,
``view__feature``. Values of NOT_FOUND and EXPIRED features are ``None``; an EXPIRED
feature keeps the event timestamp of the stored (too old) value. ``to_dict(
include_metadata=False)`` leaves out the ``__status`` and ``__event_timestamp`` columns.

``served_from`` is ``"online_store"``, or ``"l1_cache_stale"`` when the store was
unavailable and the in-process L1 cache answered alone: then every feature also has a
``__cache_age_ms`` metadata column (and ``FeatureValue.cache_age_ms``), how long ago the
cached copy was read from the store. Statuses still come from the event time and the ttl.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from feature_platform.errors import FeatureNameCollisionError
from feature_platform.online.status import FeatureStatus
from feature_platform.rows.timestamps import EPOCH
from feature_platform.specs import ViewRequest

if TYPE_CHECKING:
    import pandas as pd

_PRESENT = FeatureStatus.PRESENT
_NOT_FOUND = FeatureStatus.NOT_FOUND
_EXPIRED = FeatureStatus.EXPIRED

StoredRow = tuple[int, int, dict[str, Any]]
"""A stored feature row: event time (µs since epoch, UTC), created time (µs), values."""


_STATUS_TEXT = {status: status.value for status in FeatureStatus}
SERVED_FROM_STORE = "online_store"
SERVED_FROM_STALE_L1 = "l1_cache_stale"


@dataclass(frozen=True, slots=True)
class _ViewState:
    """One requested view's answer per entity row; ``complete``: every stored value has
    every requested feature (the usual case, decoded without per-feature checks)."""

    statuses: list[FeatureStatus]
    stamps: list[datetime | None]
    stored: list[dict[str, Any] | None]
    complete: bool


@lru_cache(maxsize=1024)
def _column_layout(
    join_keys: tuple[str, ...],
    requests: tuple[tuple[str, tuple[str, ...]], ...],
    full_feature_names: bool,
) -> list[tuple[str, int, str]]:
    """Output columns (name, request index, feature); collisions raise. Cached: the same
    request shapes come back on every call of a serving model."""
    columns: list[tuple[str, int, str]] = []
    seen: dict[str, str] = {k: "join key" for k in join_keys}
    for index, (view, features) in enumerate(requests):
        for feature in features:
            name = f"{view}__{feature}" if full_feature_names else feature
            for column in (name, f"{name}__status", f"{name}__event_timestamp", f"{name}__cache_age_ms"):
                if column in seen:
                    raise FeatureNameCollisionError(
                        f"Output column {column!r} of {view}:{feature} collides "
                        f"with {seen[column]}; request full_feature_names=True"
                    )
                seen[column] = f"{view}:{feature}"
            columns.append((name, index, feature))
    return columns


@dataclass(frozen=True, slots=True)
class FeatureValue:
    """One feature of one entity: its value, the event time of that value, and a status."""

    value: Any
    event_timestamp: datetime | None
    status: FeatureStatus
    cache_age_ms: int | None = None
    """How old the L1 copy was, when the store was unavailable (else None)."""


class EntityResult(Mapping[str, FeatureValue]):
    """The features of one entity row, by output column name; ``join_keys`` holds its keys."""

    def __init__(self, join_keys: dict[str, object], features: dict[str, FeatureValue]) -> None:
        self.join_keys = join_keys
        self._features = features

    def __getitem__(self, name: str) -> FeatureValue:
        try:
            return self._features[name]
        except KeyError:
            raise KeyError(
                f"No feature column {name!r} in this response; columns: {', '.join(self._features)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __len__(self) -> int:
        return len(self._features)

    def __repr__(self) -> str:
        return f"EntityResult({self.join_keys!r}, {self._features!r})"


class OnlineResponse:
    """The result of :meth:`OnlineStore.read` for many entity rows and feature views.

    ``response[i]`` (or ``response.entities[i]``) is entity row ``i``'s :class:`EntityResult`;
    ``response[i]["country"].value`` / ``.event_timestamp`` / ``.status`` are one feature's.
    """

    def __init__(
        self,
        join_keys: Sequence[str],
        key_rows: Sequence[Sequence[object]],
        requests: Sequence[ViewRequest],
        records: Sequence[Sequence[StoredRow | None]],
        now_micros: int,
        *,
        full_feature_names: bool = False,
        cache_ages_ms: Sequence[Sequence[int]] | None = None,
    ) -> None:
        """``records[v][i]`` is what the store holds for request ``v`` and entity row ``i``;
        ``cache_ages_ms[v][i]`` its L1 copy's age when L1 answered for an unavailable store."""
        self.join_keys = list(join_keys)
        self.cache_ages_ms = cache_ages_ms
        self.served_from = SERVED_FROM_STORE if cache_ages_ms is None else SERVED_FROM_STALE_L1
        self._key_rows = key_rows
        self._requests = list(requests)
        self._records = records
        self._now_micros = now_micros
        self.full_feature_names = full_feature_names
        self._columns = _column_layout(
            tuple(self.join_keys),
            tuple((r.view.name, r.features) for r in self._requests),
            full_feature_names,
        )
        self._states = [self._view_states(i) for i in range(len(self._requests))]

    def _view_states(self, index: int) -> _ViewState:
        """Per entity: the view's status, event time and values (None unless servable)."""
        request = self._requests[index]
        ttl = request.view.ttl
        oldest = None if ttl is None else self._now_micros - ttl // timedelta(microseconds=1)
        wanted = frozenset(request.features)
        statuses: list[FeatureStatus] = []
        stamps: list[datetime | None] = []
        stored: list[dict[str, Any] | None] = []
        complete = True
        for record in self._records[index]:
            if record is None:
                statuses.append(_NOT_FOUND)
                stamps.append(None)
                stored.append(None)
                continue
            event = record[0]
            stamps.append(EPOCH + timedelta(microseconds=event))
            if oldest is not None and event < oldest:
                statuses.append(_EXPIRED)
                stored.append(None)
            else:
                statuses.append(_PRESENT)
                values = record[2]
                stored.append(values)
                if complete and not values.keys() >= wanted:
                    complete = False
        return _ViewState(statuses, stamps, stored, complete)

    @property
    def feature_names(self) -> list[str]:
        """The output feature column names, in request order."""
        return [name for name, _, _ in self._columns]

    def __len__(self) -> int:
        return len(self._key_rows)

    def with_full_feature_names(self, full_feature_names: bool = True) -> OnlineResponse:
        """The same answer with columns named ``view__feature`` (or plain feature names)."""
        return OnlineResponse(
            self.join_keys,
            self._key_rows,
            self._requests,
            self._records,
            self._now_micros,
            full_feature_names=full_feature_names,
            cache_ages_ms=self.cache_ages_ms,
        )

    def column(
        self, name: str
    ) -> tuple[list[Any], list[datetime | None], list[FeatureStatus]]:
        """Values, event timestamps and statuses of feature column ``name``, per entity row."""
        for column_name, index, feature in self._columns:
            if column_name == name:
                values, stamps, statuses = self._column(index, feature)
                return values, list(stamps), list(statuses)
        raise KeyError(f"No feature column {name!r}; columns: {', '.join(self.feature_names)}")

    def column_cache_ages(self, name: str) -> list[int] | None:
        """Cache ages (ms) of feature column ``name`` per entity row, None unless served from L1."""
        if self.cache_ages_ms is None:
            return None
        for column_name, index, _ in self._columns:
            if column_name == name:
                return list(self.cache_ages_ms[index])
        raise KeyError(f"No feature column {name!r}; columns: {', '.join(self.feature_names)}")

    def _column(
        self, index: int, feature: str
    ) -> tuple[list[Any], list[datetime | None], list[FeatureStatus]]:
        state = self._states[index]
        if state.complete:
            values = [None if d is None else d[feature] for d in state.stored]
            return values, state.stamps, state.statuses
        values = []
        stamps: list[datetime | None] = []
        statuses: list[FeatureStatus] = []
        for status, stamp, stored in zip(state.statuses, state.stamps, state.stored, strict=True):
            if stored is None:
                values.append(None)
                stamps.append(stamp)
                statuses.append(status)
            elif feature in stored:
                values.append(stored[feature])
                stamps.append(stamp)
                statuses.append(_PRESENT)
            else:
                # A value written before this feature existed: nothing stored for it.
                values.append(None)
                stamps.append(None)
                statuses.append(_NOT_FOUND)
        return values, stamps, statuses

    def to_dict(self, include_metadata: bool = True) -> dict[str, list[Any]]:
        """Columns as lists (see the module docstring for the exact shape)."""
        out: dict[str, list[Any]] = {
            key: [row[i] for row in self._key_rows] for i, key in enumerate(self.join_keys)
        }
        texts = [[_STATUS_TEXT[s] for s in state.statuses] for state in self._states]
        ages = self.cache_ages_ms if include_metadata else None
        for name, index, feature in self._columns:
            state = self._states[index]
            if state.complete:
                out[name] = [None if d is None else d[feature] for d in state.stored]
                if include_metadata:
                    out[name + "__status"] = texts[index][:]
                    out[name + "__event_timestamp"] = state.stamps[:]
            else:
                values, stamps, statuses = self._column(index, feature)
                out[name] = values
                if include_metadata:
                    out[name + "__status"] = [_STATUS_TEXT[s] for s in statuses]
                    out[name + "__event_timestamp"] = list(stamps)
            if ages is not None:
                out[name + "__cache_age_ms"] = list(ages[index])
        return out

    def to_df(self, include_metadata: bool = True) -> pd.DataFrame:
        """The same columns as :meth:`to_dict`, as a pandas DataFrame (one row per entity).

        Join keys and features have the dtypes of the training frame of
        ``get_historical_features`` (both convert through
        :func:`feature_platform.rows.to_pandas`): int64 as nullable ``Int64``, bool as
        ``boolean``, float64, strings as objects, timestamps as ``datetime64[us, UTC]``;
        ``__event_timestamp`` columns are ``datetime64[us, UTC]`` too.
        """
        import pyarrow as pa

        from feature_platform.rows.conversion import to_pandas
        from feature_platform.rows.timestamps import UTC_MICROS

        types: dict[str, pa.DataType] = {}
        for request in self._requests:
            for name, dtype in request.view.join_key_types.items():
                types[name] = dtype.arrow_type
        for name, index, feature in self._columns:
            types[name] = self._requests[index].view.feature(feature).dtype.arrow_type
            types[name + "__status"] = pa.string()
            types[name + "__event_timestamp"] = UTC_MICROS
            types[name + "__cache_age_ms"] = pa.int64()
        columns = self.to_dict(include_metadata=include_metadata)
        schema = pa.schema([(name, types[name]) for name in columns])
        return to_pandas(pa.table(columns, schema=schema))

    @cached_property
    def entities(self) -> list[EntityResult]:
        """Per entity row, its join keys and each feature's :class:`FeatureValue` (built once)."""
        columns = [(name, *self._column(index, feature)) for name, index, feature in self._columns]
        ages = self.cache_ages_ms
        indexes = [index for _, index, _ in self._columns]
        results = []
        for row_index, key_row in enumerate(self._key_rows):
            features = {
                name: FeatureValue(
                    values[row_index], stamps[row_index], statuses[row_index],
                    None if ages is None else ages[index][row_index],
                )
                for (name, values, stamps, statuses), index in zip(columns, indexes, strict=True)
            }
            results.append(EntityResult(dict(zip(self.join_keys, key_row, strict=True)), features))
        return results

    def __getitem__(self, index: int) -> EntityResult:
        return self.entities[index]

    def __repr__(self) -> str:
        return (
            f"OnlineResponse({len(self)} entities, features={self.feature_names}, "
            f"full_feature_names={self.full_feature_names}, served_from={self.served_from!r})"
        )
