"""The offline store (Parquet partitions read by DuckDB) and the point-in-time join engines."""

from feature_platform.errors import NullValueError, PartitionWindowError, RowOutsideWindowError
from feature_platform.offline.feature_table import FeatureSource, FeatureTable
from feature_platform.offline.partitioned_source import PartitionedParquetSource
from feature_platform.offline.pit_join import point_in_time_join
from feature_platform.offline.store import OfflineStore, PartitionWrite

__all__ = [
    "FeatureSource",
    "FeatureTable",
    "NullValueError",
    "OfflineStore",
    "PartitionWindowError",
    "PartitionWrite",
    "PartitionedParquetSource",
    "RowOutsideWindowError",
    "point_in_time_join",
]
