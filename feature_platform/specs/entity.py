"""Entities: the things features describe, identified by join keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from feature_platform.errors import SpecError
from feature_platform.specs._validation import RESERVED_COLUMNS, check_identifier
from feature_platform.specs.dtypes import ValueType


@dataclass(frozen=True)
class Entity:
    """An entity such as a user, with its ordered join keys and their value types.

    ``join_keys`` maps each key column to its type, e.g. ``{"user_id": ValueType.INT64}``;
    the order of the mapping is the order keys take in the online store's key.
    """

    name: str
    join_keys: Mapping[str, ValueType]
    description: str = ""
    _keys: tuple[tuple[str, ValueType], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_identifier(self.name, "Entity name")
        if not self.join_keys:
            raise SpecError(f"Entity {self.name!r} needs at least one join key")
        keys: list[tuple[str, ValueType]] = []
        for key, dtype in self.join_keys.items():
            check_identifier(key, f"Entity {self.name!r}: join key")
            if key in RESERVED_COLUMNS:
                raise SpecError(f"Entity {self.name!r}: join key {key!r} is a reserved column name")
            parsed = ValueType.parse(dtype, f"Entity {self.name!r}: join key {key!r}")
            if parsed in (ValueType.FLOAT64, ValueType.TIMESTAMP):
                raise SpecError(
                    f"Entity {self.name!r}: join key {key!r} has dtype {parsed.value}; "
                    "join keys must be int64, string or bool (exact equality)"
                )
            keys.append((key, parsed))
        object.__setattr__(self, "_keys", tuple(keys))
        object.__setattr__(self, "join_keys", dict(keys))

    @property
    def key_names(self) -> list[str]:
        """The join key column names, in order."""
        return [k for k, _ in self._keys]
