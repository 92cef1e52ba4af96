"""The platform resource: settings, feature definitions and the two stores, for every asset."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from dagster_pyspark import LazyPySparkResource
from pydantic import PrivateAttr

from feature_platform.materialization import require_warehouse
from feature_platform.offline.duckdb_sql import use_utc
from feature_platform.settings import Settings, load_settings
from feature_platform.specs import Registry, load_registry

if TYPE_CHECKING:
    from feature_platform.materialization.online_loss import PublishRecords
    from feature_platform.offline import OfflineStore
    from feature_platform.online import RedisOnlineStore


class FeaturePlatformResource(dg.ConfigurableResource):
    """Where the platform's data lives and which Redis it publishes to.

    A field left unset takes its value from the environment of the process that loads
    the definitions (``FEATURE_PLATFORM_HOME``, ``REDIS_URL``, ``FEATURE_PLATFORM_TENANT``,
    ``FEATURE_PLATFORM_REGISTRY``); nothing is read when the module is imported. ``online_write_rate_limit`` (rows/s) keeps a backfill from starving
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

    def publish_records(self) -> PublishRecords:
        """The platform's record of which runs published each view (online loss detection)."""
        from feature_platform.materialization.online_loss import PublishRecords

        return PublishRecords(self.settings.data_dir, self.settings.tenant)

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
        """Close the Redis connections the run opened."""
        if self._online is not None:
            self._online.close()
            self._online = None


def warehouse_resource(settings: Settings) -> DuckDBResource:
    """The dbt-built DuckDB warehouse, read-only (dagster-duckdb retries while dbt holds the lock)."""
    return DuckDBResource(database=str(settings.warehouse_path), connection_config={"access_mode": "READ_ONLY"})


@contextmanager
def open_warehouse(warehouse: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A UTC connection to the warehouse; a missing warehouse says how to build it."""
    require_warehouse(Path(warehouse.database))
    with warehouse.get_connection() as con:
        yield use_utc(con)


def spark_resource() -> LazyPySparkResource:
    """A SparkSession created on first use only (local here; set ``spark.master`` for a cluster)."""
    return LazyPySparkResource(
        spark_config={
            "spark.master": "local[*]",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
        }
    )
