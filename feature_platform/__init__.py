"""feature_platform: an open-source feature store for machine learning, orchestrated by Dagster.

The SDK entry points are :class:`FeatureStore` (training sets and online reads) and
:func:`point_in_time_join`; feature definitions use :class:`Entity`, :class:`FeatureView`,
:class:`Feature` and :class:`FeatureService`. Heavy modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from feature_platform.errors import FeaturePlatformError
from feature_platform.specs import (
    Aggregation,
    AggregationFunction,
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    FreshnessTier,
    Partitioning,
    Registry,
    StalenessKind,
    StreamSource,
    TableSource,
    ValueType,
)

if TYPE_CHECKING:
    from feature_platform.offline import FeatureTable, point_in_time_join
    from feature_platform.serving.feature_store import FeatureStore

_LAZY = {
    "FeatureStore": "feature_platform.serving.feature_store",
    "FeatureTable": "feature_platform.offline",
    "point_in_time_join": "feature_platform.offline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'feature_platform' has no attribute {name!r}")


__all__ = [
    "Aggregation",
    "AggregationFunction",
    "Entity",
    "Feature",
    "FeaturePlatformError",
    "FeatureService",
    "FeatureStore",
    "FeatureTable",
    "FeatureView",
    "FreshnessTier",
    "Partitioning",
    "Registry",
    "StalenessKind",
    "StreamSource",
    "TableSource",
    "ValueType",
    "point_in_time_join",
]
