"""The platform resource: settings, feature definitions and the two stores, for every asset."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import PrivateAttr

from feature_platform.settings import Settings, load_settings
from feature_platform.specs import Registry, load_registry

if TYPE_CHECKING:
    from feature_platform.offline import OfflineStore
    from feature_platform.online import RedisOnlineStore


class FeaturePlatformResource(dg.ConfigurableResource):
    """Where the platform's data lives and which Redis it publishes to.

    A field left unset takes its value from the environment when a run starts
    (``FEATURE_PLATFORM_HOME``, ``REDIS_URL``, ``FEATURE_PLATFORM_TENANT``), never when the
    definitions load. ``online_write_rate_limit`` (rows/s) keeps a backfill from starving
    online reads; ``online_write_chunk_rows`` is how often a publish logs its progress.
    """

    data_dir: str | None = None
    redis_url: str | None = None
    tenant: str | None = None
    registry: str | None = None
    online_write_batch_size: int = 1000
    online_write_rate_limit: float | None = None
    online_write_chunk_rows: int = 200_000

    _online: Any = PrivateAttr(default=None)

    @cached_property
    def settings(self) -> Settings:
        """The settings in force: explicit fields over the environment's."""
        base = load_settings()
        overrides: dict[str, object] = {}
        if self.data_dir is not None:
            overrides["data_dir"] = Path(self.data_dir)
        if self.redis_url is not None:
            overrides["redis_url"] = self.redis_url
        if self.tenant is not None:
            overrides["tenant"] = self.tenant
        if self.registry is not None:
            overrides["registry"] = self.registry
        return base.with_overrides(**overrides) if overrides else base

    @cached_property
    def feature_registry(self) -> Registry:
        """The project's feature views and services."""
        return load_registry(self.settings.registry)

    def offline_store(self) -> OfflineStore:
        """The Parquet offline store under the data folder."""
        from feature_platform.offline import OfflineStore

        return OfflineStore(self.settings.offline_dir)

    def online_store(self) -> RedisOnlineStore:
        """The Redis online store; one client (and connection pool) per resource instance."""
        if self._online is None:
            from feature_platform.online import RedisOnlineStore

            self._online = RedisOnlineStore(
                self.settings.redis_url,
                tenant=self.settings.tenant,
                batch_size=self.online_write_batch_size,
                write_rate_limit=self.online_write_rate_limit,
            )
        return self._online

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._online is not None:
            self._online.close()
            self._online = None
