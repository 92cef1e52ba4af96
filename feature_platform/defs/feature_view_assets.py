"""The factory that turns one feature view spec into its offline and online assets."""

import warnings
from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from feature_platform.defs.off_peak import OFF_PEAK_RATE_METADATA, off_peak_rate
from feature_platform.defs.partitions import view_partitions_def
from feature_platform.defs.resources import FeaturePlatformResource, open_warehouse
from feature_platform.materialization import read_source_window
from feature_platform.materialization.backfill_window import OffPeak
from feature_platform.monitoring.windows import freshness_windows
from feature_platform.specs import FeatureView, FreshnessTier, StreamSource
from feature_platform.specs.durations import human_duration

DBT_KEY_PREFIX = "dbt"
ONLINE_KEY_PREFIX = "online"
STREAM_KEY_PREFIX = "stream"
OFFLINE_IO_MANAGER = "offline_io_manager"
ONLINE_IO_MANAGER = "online_io_manager"


def offline_key(view: FeatureView) -> dg.AssetKey:
    """The offline asset of a view is keyed by the view's name."""
    return dg.AssetKey([view.name])


def online_key(view: FeatureView) -> dg.AssetKey:
    """The online asset of a view: ``online/<view>``."""
    return dg.AssetKey([ONLINE_KEY_PREFIX, view.name])


def source_model(view: FeatureView) -> str:
    """The dbt model that builds the view's source table."""
    source = view.table_source
    return source.dbt_model or source.table


def source_key(view: FeatureView) -> dg.AssetKey:
    """The dbt model asset that builds the view's source table."""
    return dg.AssetKey([DBT_KEY_PREFIX, source_model(view)])


def _column_schema(view: FeatureView) -> dg.TableSchema:
    columns = [dg.TableColumn(k, t.value, description="join key") for k, t in view.join_key_types.items()]
    columns.append(dg.TableColumn("event_timestamp", "timestamp", description="when the fact happened"))
    columns.append(dg.TableColumn("created_timestamp", "timestamp", description="when the platform learned it"))
    columns += [dg.TableColumn(f.name, f.dtype.value, description=f.description) for f in view.features]
    return dg.TableSchema(columns=columns)


def _column_lineage(view: FeatureView, upstream: dg.AssetKey, *, renamed: bool) -> dg.TableColumnLineage:
    """Each column of the view from its column in ``upstream``: the source table (``renamed``:
    its timestamp columns have the source's names) or the offline asset (same names)."""
    origins = {name: name for name in [*view.join_keys, "event_timestamp", "created_timestamp", *view.feature_names]}
    if renamed:
        origins["event_timestamp"] = view.table_source.event_timestamp_column
        origins["created_timestamp"] = view.table_source.created_timestamp_column
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=upstream, column_name=origin)] for column, origin in origins.items()
        }
    )


def _view_metadata(view: FeatureView) -> dict[str, object]:
    return {
        "feature_view": view.name,
        "entity": view.entity_name,
        "join_keys": ", ".join(view.join_keys),
        "ttl": human_duration(view.ttl),
        "freshness_tier": view.tier.value,
        "expected_freshness": human_duration(view.tier.expected_freshness),
        "staleness_kind": view.staleness.value if view.staleness else "event",
        # Dagster 1.13's time-window freshness policy judges only the time since the last
        # materialization event; it cannot be fed a data time. Say so where "Passing" shows.
        "freshness_policy_measures": "time since the last materialization (Dagster), not data age",
        "data_staleness_measured_by": "the 'staleness' check of online/" + view.name,
        "partitioning": view.partitioning.value,
        "dagster/column_schema": _column_schema(view),
        # A stream view's columns come from pushed events, not from a dbt model's columns.
        **({} if view.is_stream else {"dagster/column_lineage": _column_lineage(view, source_key(view), renamed=True)}),
    }


def _owners(view: FeatureView) -> list[str] | None:
    return [view.owner] if view.owner else None


def build_feature_view_assets(
    view: FeatureView,
    partitions_start: date,
    freshness_policy: dg.FreshnessPolicy | None = None,
) -> list[dg.AssetsDefinition]:
    """The offline asset (source rows of a partition -> offline store) and the online asset
    (offline partition -> Redis) of ``view``."""
    partitions_def = view_partitions_def(view, partitions_start)
    # Single-run backfills are what make a range of partitions one run; the API is marked
    # beta, and that warning on every definitions load would only be noise for users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _build(view, partitions_def, freshness_policy)


def _build(
    view: FeatureView,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    freshness_policy: dg.FreshnessPolicy | None,
) -> list[dg.AssetsDefinition]:
    offline = _stream_offline_asset if view.is_stream else _table_offline_asset
    return [offline(view, partitions_def, freshness_policy), _online_asset(view, partitions_def, freshness_policy)]


def _offline_asset_args(
    view: FeatureView, partitions_def: dg.TimeWindowPartitionsDefinition, freshness_policy: dg.FreshnessPolicy | None
) -> dict[str, Any]:
    return {
        "key": offline_key(view),
        "partitions_def": partitions_def,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "io_manager_key": OFFLINE_IO_MANAGER,
        "group_name": "feature_views",
        "description": view.description or None,
        "owners": _owners(view),
        "tags": view.tags,
        "metadata": _view_metadata(view),
        "freshness_policy": freshness_policy,
    }


def _table_offline_asset(
    view: FeatureView, partitions_def: dg.TimeWindowPartitionsDefinition, freshness_policy: dg.FreshnessPolicy | None
) -> dg.AssetsDefinition:
    @dg.asset(
        deps=[source_key(view)], kinds={"duckdb", "parquet"}, **_offline_asset_args(view, partitions_def, freshness_policy)
    )
    def _offline(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> pa.Table:
        window = context.partition_time_window
        with open_warehouse(warehouse) as con:
            rows = read_source_window(con, view, window.start, window.end)
        context.log.info(f"{view.name}: {rows.num_rows} rows in [{window.start}, {window.end})")
        return rows

    return _offline


def _stream_offline_asset(
    view: FeatureView, partitions_def: dg.TimeWindowPartitionsDefinition, freshness_policy: dg.FreshnessPolicy | None
) -> dg.AssetsDefinition:
    """The offline partitions of a stream view, recomputed from every landed event of the
    window (applied, dead-lettered and shed alike): the daily batch correction.

    Its freshness is the daily correction's, not the tier's (the stream keeps the online
    asset fresh): warn after two days, fail after five, like a BATCH view."""
    warn, fail = freshness_windows(FreshnessTier.BATCH)
    daily = dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn) if freshness_policy else None

    @dg.asset(
        deps=[stream_source_key(view.stream_source)], kinds={"parquet"},
        **_offline_asset_args(view, partitions_def, daily),
    )
    def _offline(context: dg.AssetExecutionContext, feature_platform: FeaturePlatformResource) -> pa.Table:
        from feature_platform.streaming.offline import recompute_stream_partition

        window = context.partition_time_window
        settings = feature_platform.settings
        rows = recompute_stream_partition(settings.offline_dir, settings.tenant, view, window.start, window.end)
        context.log.info(f"{view.name}: {rows.num_rows} rows recomputed from landed events in [{window.start}, {window.end})")
        return rows

    return _offline


def _online_asset(
    view: FeatureView, partitions_def: dg.TimeWindowPartitionsDefinition, freshness_policy: dg.FreshnessPolicy | None
) -> dg.AssetsDefinition:
    @dg.asset(
        key=online_key(view),
        ins={"rows": dg.AssetIn(offline_key(view))},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key=ONLINE_IO_MANAGER,
        group_name="online_store",
        description=f"Latest values of {view.name} per {view.entity_name}, served from Redis.",
        owners=_owners(view),
        tags=view.tags,
        kinds={"redis"},
        metadata={
            "feature_view": view.name,
            "dagster/column_lineage": _column_lineage(view, offline_key(view), renamed=False),
        },
        freshness_policy=freshness_policy,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=1.0),
    )
    def _online(
        context: dg.AssetExecutionContext, feature_platform: FeaturePlatformResource, rows: pa.Table
    ) -> dg.Output[pa.Table]:
        # The IO manager reduces to the newest row per entity and writes with compare-and-set;
        # a UI backfill outside the off-peak window holds its writes to the reduced rate.
        rate = off_peak_rate(
            OffPeak.from_settings(feature_platform.settings.backfill), context.run.tags,
            len(context.partition_keys), f"The backfill run of {view.name}", log=context.log.warning,
        )
        return dg.Output(rows, metadata={OFF_PEAK_RATE_METADATA: rate} if rate is not None else {})

    return _online


def stream_source_key(source: StreamSource) -> dg.AssetKey:
    """The asset of a stream source's event log: ``stream/<source>``."""
    return dg.AssetKey([STREAM_KEY_PREFIX, source.name])


def build_stream_source_assets(views: Sequence[FeatureView]) -> list[dg.AssetSpec]:
    """One external asset per stream source that ``views`` read: the Redis Streams log that
    clients push to and the stream processor consumes (upstream of the stream views)."""
    sources = {v.stream_source.name: v.stream_source for v in views if v.is_stream}
    return [
        dg.AssetSpec(
            key=stream_source_key(source),
            group_name="streams",
            kinds={"redis"},
            description=source.description or f"Pushed {source.name} events: the durable log in Redis Streams.",
            metadata={
                "partitions": source.partitions,
                "allowed_lateness": human_duration(source.allowed_lateness),
                "max_lag": source.max_lag,
                "join_keys": ", ".join(source.key_names),
                "fields": ", ".join(f"{n}: {t.value}" for n, t in source.field_types.items()),
            },
        )
        for source in sources.values()
    ]
