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
from feature_platform.specs import Registry

if TYPE_CHECKING:
    from feature_platform.materialization.online_loss import PublishRecords
    from feature_platform.offline import OfflineStore
    from feature_platform.online import RedisOnlineStore


class FeaturePlatformResource(dg.ConfigurableResource):
    """Where the platform's data lives and which Redis it publishes to.

    A field left unset takes its value from :func:`load_settings` (``feature_platform.yaml``
    and the environment) of the process that runs the code; nothing is read when the module
    is imported. ``online_write_rate_limit`` (rows/s) keeps a backfill from starving online
    reads; ``online_write_chunk_rows`` is how often a publish logs its progress.
    """

    data_dir: str | None = None
    redis_url: str | None = None
    tenant: str | None = None
    registry: str | None = None
    online_write_batch_size: int | None = None
    online_write_rate_limit: float | None = None
    online_write_chunk_rows: int | None = None

    _online: Any = PrivateAttr(default=None)

    @cached_property
    def settings(self) -> Settings:
        """The settings in force: the fields set here over the loaded configuration."""
        overrides: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("data_dir", "redis_url", "tenant", "registry")
            if getattr(self, name) is not None
        }
        online_write = {
            name: getattr(self, f"online_write_{name}")
            for name in ("batch_size", "rate_limit", "chunk_rows")
            if getattr(self, f"online_write_{name}") is not None
        }
        if online_write:
            overrides["online_write"] = online_write
        return load_settings(**overrides)

    @cached_property
    def feature_registry(self) -> Registry:
        """The project's feature views and services."""
        return self.settings.load_registry()

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
                batch_size=self.settings.online_write.batch_size,
                write_rate_limit=self.settings.online_write.rate_limit,
                tenants=self.settings.tenant_routing(),
                **self.settings.online_timeouts(batch_reads=True),
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
