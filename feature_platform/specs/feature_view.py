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
from feature_platform.specs.freshness import FreshnessTier
from feature_platform.specs.partitioning import Partitioning
from feature_platform.specs.source import TableSource


@dataclass(frozen=True)
class Feature:
    """One feature column: its name, type and the values it may take.

    ``min_value`` / ``max_value`` (numeric features) and ``allowed_values`` become
    expectations of the view's validation suite.
    """

    name: str
    dtype: ValueType
    description: str = ""
    min_value: float | None = None
    max_value: float | None = None
    allowed_values: tuple[object, ...] | None = None

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
    """

    name: str
    entity: Entity | Sequence[Entity]
    features: Sequence[Feature]
    source: TableSource
    ttl: timedelta | None = None
    tier: FreshnessTier = FreshnessTier.BATCH
    partitioning: Partitioning = Partitioning.DAILY
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    online: bool = True
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
        if not isinstance(self.source, TableSource):
            raise SpecError(f"Feature view {self.name!r}: source must be a TableSource, got {self.source!r}")
        if not self.features:
            raise SpecError(f"Feature view {self.name!r} needs at least one feature")
        object.__setattr__(self, "features", tuple(self.features))
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
        object.__setattr__(self, "partitioning", Partitioning(self.partitioning))
        object.__setattr__(self, "tags", dict(self.tags))

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
