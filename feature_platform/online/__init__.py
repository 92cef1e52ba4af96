"""The online store: latest feature values per entity in Redis, for low-latency serving.

Public API: :class:`OnlineStore` (the interface), :class:`RedisOnlineStore`,
:class:`OnlineResponse` / :class:`FeatureValue` / :class:`FeatureStatus` (read results),
:class:`WriteResult` / :class:`PublishProgress` / :class:`CleanupResult`, :class:`L1Cache` /
:class:`L2Cache` (hot-entity caches) and
:class:`TenantRouting` / :class:`TenantTarget` (multi-tenancy).
"""

from feature_platform.errors import OnlineStorePermissionError
from feature_platform.online.cache import CacheStats, HotKey, HotKeyTracker, L1Cache
from feature_platform.online.connection import redact_url
from feature_platform.online.l2_cache import L2Cache, L2Stats
from feature_platform.online.latest import latest_per_entity
from feature_platform.online.redis_store import RedisOnlineStore
from feature_platform.online.response import EntityResult, FeatureValue, OnlineResponse
from feature_platform.online.results import (
    CleanupResult,
    ProgressCallback,
    PublishMarker,
    PublishProgress,
    WriteResult,
)
from feature_platform.online.status import FeatureStatus
from feature_platform.online.store import EntityRecord, OnlineStore
from feature_platform.online.tenancy import (
    TenantIsolation,
    TenantRouting,
    TenantTarget,
    tenant_acl_rules,
)

__all__ = [
    "CacheStats",
    "CleanupResult",
    "EntityRecord",
    "EntityResult",
    "FeatureStatus",
    "FeatureValue",
    "HotKey",
    "HotKeyTracker",
    "L1Cache",
    "L2Cache",
    "L2Stats",
    "OnlineResponse",
    "OnlineStore",
    "OnlineStorePermissionError",
    "ProgressCallback",
    "PublishMarker",
    "PublishProgress",
    "RedisOnlineStore",
    "TenantIsolation",
    "TenantRouting",
    "TenantTarget",
    "WriteResult",
    "latest_per_entity",
    "redact_url",
    "tenant_acl_rules",
]
