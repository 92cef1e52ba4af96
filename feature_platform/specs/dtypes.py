"""Value types a feature or join key can have, and their Arrow equivalents."""

from __future__ import annotations

from enum import Enum

import pyarrow as pa

from feature_platform.errors import SpecError


class ValueType(str, Enum):
    """The value type of a feature or a join key."""

    INT64 = "int64"
    FLOAT64 = "float64"
    STRING = "string"
    BOOL = "bool"
    TIMESTAMP = "timestamp"

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type the offline store uses for this value type."""
        return _ARROW_TYPES[self]

    @property
    def is_numeric(self) -> bool:
        """Whether values of this type are ordered numbers (ranges apply)."""
        return self in (ValueType.INT64, ValueType.FLOAT64)

    @classmethod
    def parse(cls, value: object, what: str) -> ValueType:
        """Read ``value`` (a ValueType or its name) or raise a SpecError naming ``what``."""
        if isinstance(value, ValueType):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise SpecError(f"{what}: unknown dtype {value!r}; use one of {allowed}") from None


_ARROW_TYPES = {
    ValueType.INT64: pa.int64(),
    ValueType.FLOAT64: pa.float64(),
    ValueType.STRING: pa.string(),
    ValueType.BOOL: pa.bool_(),
    ValueType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
