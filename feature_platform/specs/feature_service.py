"""Feature services: the named bundle of features one model reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from feature_platform.errors import SpecError
from feature_platform.specs._validation import check_identifier


@dataclass(frozen=True)
class FeatureService:
    """A named list of feature references ``"view:feature"`` (or ``"view:*"`` for all)."""

    name: str
    features: Sequence[str]
    description: str = ""
    owner: str = ""

    def __post_init__(self) -> None:
        check_identifier(self.name, "Feature service name")
        if not self.features:
            raise SpecError(f"Feature service {self.name!r} needs at least one feature")
        for ref in self.features:
            if not isinstance(ref, str) or ref.count(":") != 1:
                raise SpecError(
                    f"Feature service {self.name!r}: {ref!r} is not a 'view:feature' reference"
                )
        object.__setattr__(self, "features", tuple(self.features))
