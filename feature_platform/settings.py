"""Where the platform keeps its data and which services it talks to.

:func:`load_settings` reads the platform's environment variables when it is called, never
at import time. (Dagster's ``DAGSTER_HOME`` and the on-call webhook variables are read by
the Dagster layer that uses them.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from feature_platform.errors import ConfigError, SpecError
from feature_platform.local_redis import recorded_private_url
from feature_platform.specs._validation import check_identifier

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PARTITIONS_START = date(2026, 1, 1)
DEFAULT_REGISTRY = "feature_platform.feature_repo:default_registry"


@dataclass(frozen=True)
class Settings:
    """The platform's settings; every path lives under ``data_dir``.

    ``redis_url`` also chooses the online store's topology: ``redis+cluster://host:port``
    (any node of the cluster) for a Redis Cluster. ``tenant`` namespaces the online store's
    keys. ``partitions_start`` is the first partition of every feature view's Dagster
    partitions. ``registry`` names the function
    that returns the project's feature definitions (``"package.module:function"``).
    """

    data_dir: Path
    redis_url: str = DEFAULT_REDIS_URL
    tenant: str = "default"
    partitions_start: date = DEFAULT_PARTITIONS_START
    registry: str = DEFAULT_REGISTRY

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        try:
            check_identifier(self.tenant, "Tenant")
        except SpecError as exc:
            raise ConfigError(f"{exc} (set FEATURE_PLATFORM_TENANT)") from None
        if not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        ):
            raise ConfigError(
                f"Redis URL must start with redis://, rediss://, unix://, or redis+cluster:// / "
                f"rediss+cluster:// for a Redis Cluster; got a URL with scheme "
                f"{self.redis_url.split(':', 1)[0]!r} (set REDIS_URL)"
            )

    @property
    def landing_dir(self) -> Path:
        """Raw event Parquet files, partitioned by ingestion date."""
        return self.data_dir / "landing"

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB warehouse that dbt builds the source tables in."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def offline_dir(self) -> Path:
        """Root of the offline store's Parquet partitions."""
        return self.data_dir / "offline"

    @property
    def dagster_home(self) -> Path:
        """DAGSTER_HOME for `make dev` and the demo."""
        return self.data_dir / "dagster_home"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some settings changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings() -> Settings:
    """Settings from the environment: FEATURE_PLATFORM_HOME, REDIS_URL (else the private
    redis-server `make demo` recorded under the data folder, else the local default), FEATURE_PLATFORM_TENANT,
    FEATURE_PLATFORM_PARTITIONS_START (YYYY-MM-DD), FEATURE_PLATFORM_REGISTRY."""
    start_text = os.environ.get("FEATURE_PLATFORM_PARTITIONS_START")
    try:
        start = date.fromisoformat(start_text) if start_text else DEFAULT_PARTITIONS_START
    except ValueError:
        raise ConfigError(
            f"FEATURE_PLATFORM_PARTITIONS_START={start_text!r} is not a date; use YYYY-MM-DD"
        ) from None
    data_dir = Path(os.environ.get("FEATURE_PLATFORM_HOME", ".feature_platform"))
    # Without REDIS_URL, use the private redis-server that `make demo` started, if any.
    redis_url = os.environ.get("REDIS_URL") or recorded_private_url(data_dir) or DEFAULT_REDIS_URL
    return Settings(
        data_dir=data_dir,
        redis_url=redis_url,
        tenant=os.environ.get("FEATURE_PLATFORM_TENANT", "default"),
        partitions_start=start,
        registry=os.environ.get("FEATURE_PLATFORM_REGISTRY", DEFAULT_REGISTRY),
    )
