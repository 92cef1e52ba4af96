"""Feature views: a named, typed group of features of one entity, from one source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pyarrow as pa

from feature_platform.errors import SpecError
from feature_platform.specs._validation import (
    RESERVED_COLUMNS,
    check_identifier,
    check_positive_ttl,
)
from feature_platform.specs.dtypes import ValueType
from feature_platform.specs.entity import Entity
from feature_platform.specs.freshness import FreshnessTier, StalenessKind
from feature_platform.specs.partitioning import Partitioning
from feature_platform.specs.source import TableSource
from feature_platform.specs.stream import Aggregation, StreamSource


@dataclass(frozen=True)
class Feature:
    """One feature column: its name, type and the values it may take.

    ``min_value`` / ``max_value`` (numeric features) and ``allowed_values`` become
    expectations of the view's validation suite. ``aggregation`` is set on the features a
    stream view builds from its :class:`Aggregation` s (windowed aggregations).
    A float feature's values must be finite (no NaN or +-inf) unless ``allow_non_finite``;
    the validation suite refuses them otherwise.
    """

    name: str
    dtype: ValueType
    description: str = ""
    min_value: float | None = None
    max_value: float | None = None
    allowed_values: tuple[object, ...] | None = None
    aggregation: Aggregation | None = None
    allow_non_finite: bool = False

    def __post_init__(self) -> None:
        check_identifier(self.name, "Feature name")
        if self.name in RESERVED_COLUMNS:
            raise SpecError(f"Feature name {self.name!r} is reserved for the view's timestamps")
        object.__setattr__(self, "dtype", ValueType.parse(self.dtype, f"Feature {self.name!r}"))
        if (self.min_value is not None or self.max_value is not None) and not self.dtype.is_numeric:
            raise SpecError(
                f"Feature {self.name!r}: min_value/max_value need a numeric dtype, not {self.dtype.value}"
            )
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise SpecError(f"Feature {self.name!r}: min_value {self.min_value} > max_value {self.max_value}")
        if self.allowed_values is not None:
            object.__setattr__(self, "allowed_values", tuple(self.allowed_values))


@dataclass(frozen=True)
class FeatureView:
    """A date-partitioned group of features of one or more entities, materialized offline
    and online.

    ``entity`` is an Entity, or a sequence of them for a view keyed by several (a user and
    an item, say): the join keys are then every entity's keys, in order. Rows of the view
    have the join keys, ``event_timestamp``, ``created_timestamp`` and the features. ``ttl`` bounds how old a value may be and still be served (``None``:
    no limit). ``tier`` is the freshness SLA; ``partitioning`` how the offline table is cut.

    A view whose ``source`` is a :class:`StreamSource` is a *stream view*: its join keys
    must be the source's, each :class:`Feature` is the latest value of the source field of
    the same name and type, and ``aggregations`` lists its windowed aggregations: each
    becomes a Feature of ``features`` (after the plain ones) with ``aggregation`` set and the
    result type, so every reader of ``features`` sees them.
    ``load_shedding`` (stream views only, off by default): the fraction of events, from 0
    to 1 exclusive, this view skips while a stream partition's lag is above the source's
    ``shed_lag``; the skipped events are counted.

    ``staleness`` says how the tier's promise is measured (:class:`StalenessKind`): by
    default ``WINDOWED_AGGREGATE`` for a view with aggregations, else ``EVENT``; a view of
    values that hold until they change (a profile) is ``SNAPSHOT``.
    """

    name: str
    entity: Entity | Sequence[Entity]
    features: Sequence[Feature]
    source: TableSource | StreamSource
    ttl: timedelta | None = None
    tier: FreshnessTier = FreshnessTier.BATCH
    partitioning: Partitioning = Partitioning.DAILY
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    online: bool = True
    aggregations: Sequence[Aggregation] = ()
    load_shedding: float | None = None
    staleness: StalenessKind | None = None
    _entities: tuple[Entity, ...] = field(init=False, repr=False, compare=False)
    _join_key_types: dict[str, ValueType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_identifier(self.name, "Feature view name")
        entities = (self.entity,) if isinstance(self.entity, Entity) else tuple(self.entity)
        if not entities or not all(isinstance(e, Entity) for e in entities):
            raise SpecError(
                f"Feature view {self.name!r}: entity must be an Entity or a non-empty list of them, "
                f"got {self.entity!r}"
            )
        keys: dict[str, ValueType] = {}
        for entity in entities:
            for key, dtype in entity.join_keys.items():
                if key in keys:
                    raise SpecError(f"Feature view {self.name!r}: join key {key!r} appears in two entities")
                keys[key] = dtype
        object.__setattr__(self, "entity", entities[0] if len(entities) == 1 else entities)
        object.__setattr__(self, "_entities", entities)
        object.__setattr__(self, "_join_key_types", keys)
        if not isinstance(self.source, TableSource | StreamSource):
            raise SpecError(
                f"Feature view {self.name!r}: source must be a TableSource or a StreamSource, got {self.source!r}"
            )
        object.__setattr__(self, "aggregations", tuple(self.aggregations))
        object.__setattr__(self, "features", tuple(self._stream_features(keys)))
        if not self.features:
            raise SpecError(f"Feature view {self.name!r} needs at least one feature")
        seen: set[str] = set()
        for feature in self.features:
            if not isinstance(feature, Feature):
                raise SpecError(f"Feature view {self.name!r}: {feature!r} is not a Feature")
            if feature.name in seen:
                raise SpecError(f"Feature view {self.name!r}: duplicate feature name {feature.name!r}")
            if feature.name in keys:
                raise SpecError(
                    f"Feature view {self.name!r}: feature {feature.name!r} has the name of a join key"
                )
            seen.add(feature.name)
        check_positive_ttl(self.ttl, f"Feature view {self.name!r}")
        object.__setattr__(self, "tier", FreshnessTier(self.tier))
        if self.staleness is None:
            kind = StalenessKind.WINDOWED_AGGREGATE if self.aggregations else StalenessKind.EVENT
        else:
            try:
                kind = StalenessKind(self.staleness)
            except ValueError:
                raise SpecError(
                    f"Feature view {self.name!r}: staleness {self.staleness!r} is not one of "
                    f"{', '.join(k.value for k in StalenessKind)}"
                ) from None
        object.__setattr__(self, "staleness", kind)
        object.__setattr__(self, "partitioning", Partitioning(self.partitioning))
        object.__setattr__(self, "tags", dict(self.tags))
        if self.load_shedding is not None:
            if not isinstance(self.source, StreamSource):
                raise SpecError(f"Feature view {self.name!r}: load_shedding applies to stream views only")
            if isinstance(self.load_shedding, bool) or not 0 < self.load_shedding < 1:
                raise SpecError(
                    f"Feature view {self.name!r}: load_shedding must be a fraction in (0, 1) of "
                    f"events to skip under overload, or None; got {self.load_shedding!r}"
                )

    def _stream_features(self, keys: dict[str, ValueType]) -> list[Feature]:
        """``features`` plus one Feature per Aggregation; a stream view checked against its
        source (keys, field names and types)."""
        # Features derived from aggregations (a copy made by dataclasses.replace) are rebuilt.
        plain = [f for f in self.features if not (isinstance(f, Feature) and f.aggregation is not None)]
        source = self.source
        if not isinstance(source, StreamSource):
            if self.aggregations:
                names = [a.name for a in self.aggregations]
                raise SpecError(f"Feature view {self.name!r}: aggregations {names} need a StreamSource")
            return plain
        if keys != source.key_types:
            raise SpecError(
                f"Feature view {self.name!r}: join keys {keys} differ from those of stream "
                f"source {source.name!r} {source.key_types}; use the same names and types"
            )
        for item in plain:
            if not isinstance(item, Feature):
                continue
            field_type = source.field_types.get(item.name)
            if field_type is None:
                raise SpecError(
                    f"Feature view {self.name!r}: feature {item.name!r} is not a field of stream "
                    f"source {source.name!r} (a latest-value feature is the field of the same "
                    f"name); its fields: {', '.join(source.field_types)}"
                )
            if item.dtype is not field_type:
                raise SpecError(
                    f"Feature view {self.name!r}: feature {item.name!r} is {item.dtype.value} but "
                    f"field {item.name!r} of stream source {source.name!r} is {field_type.value}"
                )
        derived: list[Feature] = []
        for aggregation in self.aggregations:
            if not isinstance(aggregation, Aggregation):
                raise SpecError(f"Feature view {self.name!r}: {aggregation!r} is not an Aggregation")
            dtype = aggregation.check_column(source, self.name)
            assert aggregation.name is not None
            derived.append(Feature(aggregation.name, dtype, aggregation.description, aggregation=aggregation))
        return plain + derived

    @property
    def is_stream(self) -> bool:
        """Whether the view reads a StreamSource (a stream view)."""
        return isinstance(self.source, StreamSource)

    @property
    def table_source(self) -> TableSource:
        """The view's TableSource; SpecError for a stream view."""
        if not isinstance(self.source, TableSource):
            raise SpecError(f"Feature view {self.name!r} is a stream view: it has no source table")
        return self.source

    @property
    def stream_source(self) -> StreamSource:
        """The view's StreamSource; SpecError for a batch view."""
        if not isinstance(self.source, StreamSource):
            raise SpecError(f"Feature view {self.name!r} is not a stream view (its source is a table)")
        return self.source

    @property
    def aggregated_features(self) -> list[Feature]:
        """The windowed-aggregation features, in declaration order."""
        return [f for f in self.features if f.aggregation is not None]

    @property
    def latest_features(self) -> list[Feature]:
        """The latest-value (non-aggregated) features, in declaration order."""
        return [f for f in self.features if f.aggregation is None]

    @property
    def entities(self) -> tuple[Entity, ...]:
        """The view's entities, in order."""
        return self._entities

    @property
    def entity_name(self) -> str:
        """The entity's name, or the names joined by ``x`` for a view of several."""
        return " x ".join(e.name for e in self.entities)

    @property
    def join_key_types(self) -> dict[str, ValueType]:
        """Every join key column with its type, in order."""
        return dict(self._join_key_types)

    @property
    def join_keys(self) -> list[str]:
        """The join key columns of the view, in order."""
        return list(self._join_key_types)

    @property
    def feature_names(self) -> list[str]:
        """The feature names, in declaration order."""
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        """The feature called ``name``; raises UnknownFeatureError if there is none."""
        from feature_platform.errors import UnknownFeatureError

        for f in self.features:
            if f.name == name:
                return f
        raise UnknownFeatureError(f"{self.name}:{name}", self.feature_names)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The schema of the view's offline rows: keys, timestamps, then features."""
        ts = ValueType.TIMESTAMP.arrow_type
        fields = [pa.field(k, t.arrow_type) for k, t in self.join_key_types.items()]
        fields += [pa.field("event_timestamp", ts), pa.field("created_timestamp", ts)]
        fields += [pa.field(f.name, f.dtype.arrow_type) for f in self.features]
        return pa.schema(fields)
