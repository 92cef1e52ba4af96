"""The platform's configuration: one typed :class:`Settings`, read from ``feature_platform.yaml``
and the environment by :func:`load_settings`.

Sources, highest first: keyword arguments of :func:`load_settings`; environment variables
``FEATURE_PLATFORM_<FIELD>`` (nested fields with ``__``: ``FEATURE_PLATFORM_ON_CALL__KIND``);
the short names kept from earlier releases (``FEATURE_PLATFORM_HOME``, ``REDIS_URL``,
``FEATURE_PLATFORM_ONCALL_URL``, ``FEATURE_PLATFORM_ONCALL_KIND``, ``PAGERDUTY_ROUTING_KEY``);
the YAML file (``FEATURE_PLATFORM_CONFIG``, else ``feature_platform.yaml`` in the working
directory, if there is one); the defaults below. Nothing is read at import time, and loading
settings never starts a service. Secrets (webhook URL, routing key, tenant Redis URLs) are
``SecretStr``: ``repr`` and logs show ``**********``.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from feature_platform.errors import ConfigError, SpecError
from feature_platform.specs._validation import check_identifier

if TYPE_CHECKING:
    from feature_platform.online.tenancy import TenantRouting
    from feature_platform.serving.rate_limit import TenantRateLimiter
    from feature_platform.specs import Registry
    from feature_platform.streaming.processor import ProcessorOptions
    from feature_platform.streaming.spark.job import SparkStreamOptions

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PARTITIONS_START = date(2026, 1, 1)
DEFAULT_REGISTRY = "feature_platform.feature_repo:default_registry"
CONFIG_FILE_NAME = "feature_platform.yaml"
CONFIG_FILE_ENV = "FEATURE_PLATFORM_CONFIG"
PRIVATE_REDIS_URL_FILE = "url"
REDIS_URL_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")

PACKAGED_DBT_PROJECT_DIR = (Path(__file__).resolve().parent / "dbt_transforms").resolve()
"""The dbt project shipped with the package: in a checkout a link to ``dbt_transforms/``,
in a wheel a copy (see ``pyproject.toml``)."""


class OnlineTimeouts(TypedDict):
    """The timeout arguments of ``RedisOnlineStore`` (seconds)."""

    read_timeout: float
    read_connect_timeout: float
    socket_timeout: float
    socket_connect_timeout: float


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DbtSettings(_Section):
    """The dbt project that builds the source tables (also its profiles directory)."""

    project_dir: Path = Field(
        default=PACKAGED_DBT_PROJECT_DIR, description="The dbt project folder; default: the one shipped with the package."
    )

    @field_validator("project_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return Path(value).resolve()


class OnlineWriteSettings(_Section):
    """How materialization writes to the online store."""

    batch_size: int = Field(default=1000, ge=1, description="Rows per pipelined write round trip.")
    rate_limit: float | None = Field(default=None, gt=0, description="Max rows/s (None: unlimited); keeps a backfill from starving reads.")
    chunk_rows: int = Field(default=200_000, ge=1, description="Rows per publish chunk; each chunk logs progress.")
    connect_timeout_s: float = Field(default=2.0, gt=0, allow_inf_nan=False, description="TCP connect timeout of batch traffic (writes, scans, cleanup).")
    socket_timeout_s: float = Field(
        default=5.0, gt=0, allow_inf_nan=False, description="Longest wait for a reply in batch traffic; a timed-out round trip is retried once."
    )
    generation_retention: timedelta = Field(
        default=timedelta(days=7), gt=timedelta(0),
        description="How long the generation a swap (online publish-generation) replaced stays for a rollback.",
    )


class OnlineReadSettings(_Section):
    """How the SDK and the server read the online store (hot entities)."""

    replica_reads: bool = Field(default=False, description="On a Redis Cluster: BATCH and STATIC views may be read from replicas.")
    l2_url: str | None = Field(default=None, repr=False, description="A separate Redis used as the shared L2 cache (None: no L2).")
    connect_timeout_s: float = Field(default=0.1, gt=0, allow_inf_nan=False, description="TCP connect timeout of online reads.")
    read_timeout_s: float = Field(
        default=0.25, gt=0, allow_inf_nan=False,
        description="Longest wait for Redis's reply to an online read (SDK, serve, /health); not retried on timeout.",
    )
    generation_refresh_s: float = Field(
        default=1.0, ge=0, description="Seconds a reader trusts a view's served generation before asking Redis again (0: every read)."
    )
    spread_hot_keys_above: float | None = Field(
        default=None, gt=0,
        description="`serve`: spread every key its L1 tracker sees read this many times a second or more (None: never).",
    )
    spread_copies: int = Field(default=3, ge=2, description="Keys a promoted hot key is spread over (itself and its copies).")
    spread_interval_s: float = Field(default=10.0, gt=0, description="Seconds between two hot-key promotion passes of `serve`.")


class BackfillSettings(_Section):
    """The deployment's off-peak window for large backfills (the seed's "2am-6am")."""

    window: str | None = Field(default=None, description="HH:MM-HH:MM in UTC (may wrap midnight); None: no window.")
    outside_window: Literal["wait", "reduced"] = Field(
        default="reduced", description="A large backfill outside the window waits for it, or runs at reduced_rate."
    )
    reduced_rate: float = Field(default=500.0, gt=0, description="Online rows/s of a large backfill outside the window.")
    large_partitions: int = Field(default=7, ge=0, description="A backfill of more partitions than this is large.")


class ServerSettings(_Section):
    """The HTTP feature server of ``feature-platform serve``."""

    host: str = "127.0.0.1"
    port: int = Field(default=6566, ge=1, le=65535)
    rate_limit: float | None = Field(default=None, gt=0, description="Requests/s of a tenant without its own limit (None: unlimited).")
    burst: float | None = Field(default=None, gt=0, description="Bucket size of those tenants (default: one second of requests).")
    max_entities: int = Field(default=1000, ge=1, description="Entity rows per request.")


class OnCallSettings(_Section):
    """Where alerts are paged; no ``webhook_url`` means no paging."""

    webhook_url: SecretStr | None = Field(default=None, description="PagerDuty Events API v2 or Slack webhook URL.")
    kind: Literal["pagerduty", "slack"] = "pagerduty"
    routing_key: SecretStr | None = Field(default=None, description="The PagerDuty integration's routing key.")
    timeout_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)


class StreamProcessorSettings(_Section):
    """The embedded stream processor (``feature-platform stream``): its buffers and timings."""

    batch_size: int = Field(default=2000, ge=1, description="Log entries read per partition per round.")
    max_in_flight: int = Field(
        default=20_000, ge=1, description="Entries in flight over all partitions (the round being applied and the next one being planned): the processor's memory bound."
    )
    block_ms: int = Field(default=100, ge=1, description="How long a read waits for new entries.")
    lease_ttl_ms: int = Field(
        default=10_000, ge=1, description="A partition lease's life; a dead processor's partitions are taken over after it."
    )
    heartbeat_s: float = Field(default=1.0, gt=0, description="Heartbeat period (liveness for the stream health sensor).")
    progress_interval_s: float = Field(default=5.0, gt=0, description="Minimum time between two progress reports.")
    backoff_initial_s: float = Field(default=0.1, gt=0, description="First retry delay while Redis is down.")
    backoff_max_s: float = Field(default=5.0, gt=0, description="Longest retry delay while Redis is down.")

    @model_validator(mode="after")
    def _bounded(self) -> StreamProcessorSettings:
        if self.max_in_flight < self.batch_size:
            raise ValueError(f"max_in_flight ({self.max_in_flight}) must be >= batch_size ({self.batch_size})")
        return self


class StreamSparkSettings(_Section):
    """The Spark engine of ``feature-platform stream --engine spark``."""

    trigger_seconds: float = Field(default=1.0, gt=0, description="Micro-batch interval.")
    max_rows_per_batch: int = Field(default=10_000, ge=1, description="Rows per micro-batch at most.")
    checkpoint_dir: Path | None = Field(default=None, description="Query checkpoints (default: <data_dir>/spark_checkpoints).")

    @field_validator("checkpoint_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(value).resolve()


class StreamPushSettings(_Section):
    """Push rate limits (``FeatureStore.push`` and ``POST /push``), per tenant, in events/s."""

    rate_limit: float | None = Field(
        default=None, gt=0, description="Events/s a tenant without its own push_rate_limit may push (None: unlimited)."
    )
    burst: float | None = Field(default=None, gt=0, description="Bucket size of those tenants (default: one second of events).")


class StreamSourceSettings(_Section):
    """A deployment's overrides of one stream source's spec (None: the spec's value)."""

    partitions: int | None = Field(
        default=None, ge=1, le=1024,
        description="Stream partitions (re-partitions the log: stop the processors and drain it first).",
    )
    max_lag: int | None = Field(default=None, ge=1, description="Unprocessed events per partition above which push answers 429.")
    shed_lag: int | None = Field(default=None, ge=1, description="Lag above which views that opt in shed events.")


class StreamSettings(_Section):
    """The real-time path: the processor, the Spark engine, push rate limits, source overrides."""

    processor: StreamProcessorSettings = StreamProcessorSettings()
    spark: StreamSparkSettings = StreamSparkSettings()
    push: StreamPushSettings = StreamPushSettings()
    sources: dict[str, StreamSourceSettings] = Field(
        default={}, description="Overrides of stream sources' partitions, max_lag and shed_lag, by source name."
    )


class TenantSettings(_Section):
    """Where one tenant's online data lives and how fast it may read.

    Neither ``database`` nor ``url``: keys under the tenant's prefix on the default Redis.
    ``database``: the default Redis server, that database. ``url``: a Redis of its own.
    """

    database: int | None = Field(default=None, ge=0)
    url: SecretStr | None = None
    rate_limit: float | None = Field(default=None, gt=0, description="Requests/s on the feature server (None: the server's default).")
    push_rate_limit: float | None = Field(
        default=None, gt=0, description="Events/s this tenant may push (None: stream.push.rate_limit)."
    )

    @model_validator(mode="after")
    def _one_isolation(self) -> TenantSettings:
        if self.database is not None and self.url is not None:
            raise ValueError("set either 'database' or 'url', not both")
        if self.url is not None and not self.url.get_secret_value().startswith(REDIS_URL_SCHEMES):
            raise ValueError("url must be a Redis URL (redis://, rediss://, unix://, redis+cluster://)")
        return self


class Settings(_Section):
    """The platform's settings. Every path defaults to a place under ``data_dir``.

    ``redis_url`` also chooses the online store's topology: ``redis+cluster://host:port``
    (any node of the cluster) for a Redis Cluster. ``tenant`` namespaces the online store's
    keys; ``tenants`` routes tenants to a database
    or Redis of their own and sets their request rate limits. ``partitions_start`` is the
    first partition of every feature view (default: where the landing data starts).
    ``registry`` names the function that returns the project's feature definitions
    (``"package.module:function"``). ``duckdb_memory_limit`` caps the DuckDB join engine's
    memory (e.g. ``"4GB"``; None: DuckDB's default, 80% of RAM); above it DuckDB spills to
    :attr:`duckdb_spill_dir`.
    """

    data_dir: Path = Path(".feature_platform")
    redis_url: str = Field(default=DEFAULT_REDIS_URL, repr=False)
    tenant: str = "default"
    partitions_start: date | None = None
    registry: str = DEFAULT_REGISTRY
    checkpoint_dir: Path | None = Field(default=None, description="Incremental publish checkpoints (default: <data_dir>/checkpoints).")
    duckdb_memory_limit: str | None = Field(default=None, description="Memory limit of the DuckDB join engine, e.g. 4GB (default: DuckDB's, 80% of RAM).")
    duckdb_temp_dir: Path | None = Field(default=None, description="Where DuckDB spills above its memory limit (default: <data_dir>/duckdb_tmp).")
    dbt: DbtSettings = DbtSettings()
    online_write: OnlineWriteSettings = OnlineWriteSettings()
    online_read: OnlineReadSettings = OnlineReadSettings()
    backfill: BackfillSettings = BackfillSettings()
    server: ServerSettings = ServerSettings()
    on_call: OnCallSettings = OnCallSettings()
    stream: StreamSettings = StreamSettings()
    tenants: dict[str, TenantSettings] = {}

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    @field_validator("data_dir", "checkpoint_dir", "duckdb_temp_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(value).resolve()

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return _identifier(value, "Tenant")

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, value: dict[str, TenantSettings]) -> dict[str, TenantSettings]:
        for name in value:
            _identifier(name, "Tenant")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(REDIS_URL_SCHEMES):
            raise ValueError(
                f"Redis URL must start with redis://, rediss://, unix://, or redis+cluster:// / "
                f"rediss+cluster:// for a Redis Cluster; got a URL with scheme {value.split(':', 1)[0]!r}"
            )
        return value

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
    def checkpoints_dir(self) -> Path:
        """Where incremental publishes keep their per-view checkpoints."""
        return self.checkpoint_dir or self.data_dir / "checkpoints"

    @property
    def duckdb_spill_dir(self) -> Path:
        """Where the DuckDB join engine spills above its memory limit."""
        return self.duckdb_temp_dir or self.data_dir / "duckdb_tmp"

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance of the platform: ``DAGSTER_HOME`` if set, else under the data folder."""
        return Path(os.environ.get("DAGSTER_HOME") or self.data_dir / "dagster_home").resolve()

    @property
    def private_redis_dir(self) -> Path:
        """Where a private redis-server started for this data folder keeps its files and URL."""
        return private_redis_dir(self.data_dir)

    @property
    def logs_dir(self) -> Path:
        """Full logs of the demo and long CLI commands."""
        return self.data_dir / "logs"

    def dbt_env(self) -> dict[str, str]:
        """Environment variables of a dbt run against this warehouse and landing folder.

        Merge them over ``os.environ`` for the dbt subprocess. Paths are absolute, so dbt's
        working directory does not matter.
        """
        return {
            "FEATURE_PLATFORM_WAREHOUSE": str(self.warehouse_path),
            "FEATURE_PLATFORM_LANDING": str(self.landing_dir),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def tenant_routing(self) -> TenantRouting:
        """The online store's routing of the configured tenants."""
        from feature_platform.online.tenancy import TenantIsolation, TenantRouting, TenantTarget

        targets = {}
        for name, tenant in self.tenants.items():
            if tenant.url is not None:
                targets[name] = TenantTarget(TenantIsolation.URL, url=tenant.url.get_secret_value())
            elif tenant.database is not None:
                targets[name] = TenantTarget(TenantIsolation.DATABASE, db=tenant.database)
            else:
                targets[name] = TenantTarget()
        return TenantRouting(targets)

    def rate_limiter(self) -> TenantRateLimiter:
        """The feature server's per-tenant request limits."""
        from feature_platform.serving.rate_limit import TenantRateLimiter

        per_tenant = {name: t.rate_limit for name, t in self.tenants.items() if t.rate_limit is not None}
        return TenantRateLimiter(self.server.rate_limit, burst=self.server.burst, per_tenant=per_tenant)

    def push_rate_limiter(self) -> TenantRateLimiter | None:
        """The per-tenant push limits in events/s (``stream.push``, tenants' ``push_rate_limit``);
        None when no limit is configured."""
        from feature_platform.serving.rate_limit import TenantRateLimiter

        per_tenant = {name: t.push_rate_limit for name, t in self.tenants.items() if t.push_rate_limit is not None}
        push = self.stream.push
        if push.rate_limit is None and not per_tenant:
            return None
        return TenantRateLimiter(push.rate_limit, burst=push.burst, per_tenant=per_tenant)

    def processor_options(self, **changes: Any) -> ProcessorOptions:
        """The stream processor's options from ``stream.processor``, with ``changes`` (command
        line flags) applied."""
        from feature_platform.streaming.processor import ProcessorOptions

        return ProcessorOptions(**{**self.stream.processor.model_dump(), **changes})

    def spark_stream_options(self, **changes: Any) -> SparkStreamOptions:
        """The Spark engine's options from ``stream.spark``, with ``changes`` applied."""
        from feature_platform.streaming.spark.job import SparkStreamOptions

        spark = self.stream.spark
        values: dict[str, Any] = {
            "checkpoint_dir": spark.checkpoint_dir or self.data_dir / "spark_checkpoints",
            "trigger_seconds": spark.trigger_seconds,
            "max_rows_per_batch": spark.max_rows_per_batch,
        }
        return SparkStreamOptions(**{**values, **changes})

    def load_registry(self) -> Registry:
        """The project's feature views and services (``registry``), with the stream sources'
        overrides of ``stream.sources`` applied to every view that reads them."""
        from dataclasses import replace

        from feature_platform.specs import Registry, load_registry

        registry = load_registry(self.registry)
        overrides = self.stream.sources
        if not overrides:
            return registry
        known = {v.stream_source.name: v.stream_source for v in registry.views if v.is_stream}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(
                f"stream.sources names {unknown}, which no feature view of {self.registry!r} reads; "
                f"its stream sources: {sorted(known)}"
            )
        replaced = {
            name: replace(source, **overrides[name].model_dump(exclude_none=True))
            for name, source in known.items() if name in overrides
        }
        views = [
            replace(v, source=replaced[v.stream_source.name]) if v.is_stream and v.stream_source.name in replaced else v
            for v in registry.views
        ]
        return Registry(views, registry.services)

    def served_tenants(self) -> list[str]:
        """The default tenant and every configured one: what ``serve`` answers for."""
        return [self.tenant, *(t for t in self.tenants if t != self.tenant)]

    def online_timeouts(self, *, batch_reads: bool = False) -> OnlineTimeouts:
        """The ``RedisOnlineStore`` timeout arguments: ``online_read``'s for reads,
        ``online_write``'s for batch traffic (and for reads too with ``batch_reads``: the
        reads of batch jobs, such as consistency checks, are not serving)."""
        reading, writing = self.online_read, self.online_write
        if batch_reads:
            reading = OnlineReadSettings(read_timeout_s=writing.socket_timeout_s, connect_timeout_s=writing.connect_timeout_s)
        return {
            "read_timeout": reading.read_timeout_s,
            "read_connect_timeout": reading.connect_timeout_s,
            "socket_timeout": writing.socket_timeout_s,
            "socket_connect_timeout": writing.connect_timeout_s,
        }

    def with_overrides(self, **changes: object) -> Settings:
        """A validated copy with some top-level settings changed."""
        return Settings(**{**dict(self), **changes})



def private_redis_dir(data_dir: Path) -> Path:
    """Where a private redis-server of ``data_dir`` keeps its pid file, log and URL."""
    return data_dir / "redis"


def recorded_private_redis_url(data_dir: Path) -> str | None:
    """The URL of the private redis-server `make demo` started for ``data_dir``, if any."""
    path = private_redis_dir(data_dir) / PRIVATE_REDIS_URL_FILE
    return path.read_text().strip() if path.exists() else None


def _identifier(value: str, what: str) -> str:
    try:
        return check_identifier(value, what)
    except SpecError as exc:
        raise ValueError(str(exc)) from None


def _explain(error: ValidationError) -> str:
    """One line per invalid field: where it is, and what is wrong."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "settings"
        variable = "FEATURE_PLATFORM_" + "__".join(str(part) for part in item["loc"]).upper()
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{where} (env {variable}): {message}")
    return "Invalid settings (feature_platform.yaml or FEATURE_PLATFORM_* variables): " + "; ".join(lines)


def config_file() -> Path | None:
    """The YAML configuration in force: ``FEATURE_PLATFORM_CONFIG``, else ``./feature_platform.yaml``."""
    named = os.environ.get(CONFIG_FILE_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV}={named!r} is not a file; point it at a feature_platform.yaml")
        return path.resolve()
    local = Path.cwd() / CONFIG_FILE_NAME
    return local if local.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from keyword ``overrides``, the environment and ``feature_platform.yaml``.

    Without a Redis URL from any source, the private redis-server that `make demo` recorded
    under the data folder is used if there is one, else the local default.
    """
    from feature_platform.settings_sources import read_sources

    settings = Settings(**read_sources(config_file(), overrides))
    if "redis_url" not in settings.model_fields_set:
        recorded = recorded_private_redis_url(settings.data_dir)
        if recorded:
            settings = settings.with_overrides(redis_url=recorded)
    return settings
