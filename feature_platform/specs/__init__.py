"""Feature definitions: plain Python, no Dagster."""

from feature_platform.specs.dtypes import ValueType
from feature_platform.specs.entity import Entity
from feature_platform.specs.feature_service import FeatureService
from feature_platform.specs.feature_view import Feature, FeatureView
from feature_platform.specs.freshness import FreshnessTier, StalenessKind
from feature_platform.specs.partitioning import Partitioning
from feature_platform.specs.registry import Registry, ViewRequest, load_registry
from feature_platform.specs.source import TableSource
from feature_platform.specs.stream import Aggregation, AggregationFunction, StreamSource

__all__ = [
    "Aggregation",
    "AggregationFunction",
    "Entity",
    "Feature",
    "FeatureService",
    "FeatureView",
    "FreshnessTier",
    "Partitioning",
    "Registry",
    "StalenessKind",
    "StreamSource",
    "TableSource",
    "ValueType",
    "ViewRequest",
    "load_registry",
]
