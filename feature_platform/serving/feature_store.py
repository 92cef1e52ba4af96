"""The Python SDK: training sets from the offline store, live values from the online store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa

from feature_platform.offline import OfflineStore, point_in_time_join
from feature_platform.online import L2Cache, OnlineResponse, OnlineStore, RedisOnlineStore
from feature_platform.settings import Settings, load_settings
from feature_platform.specs import Registry, ViewRequest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from feature_platform.specs import StreamSource
    from feature_platform.streaming.push import PushResult, StreamLog


class FeatureStore:
    """Entry point for model code: ``get_historical_features`` and ``get_online_features``.

    ``FeatureStore()`` uses :func:`load_settings` (``feature_platform.yaml`` and the
    environment): the registry, the data folder and the Redis URL. Pass ``settings``,
    ``registry`` or ready stores to override any of them.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: Registry | None = None,
        offline_store: OfflineStore | None = None,
        online_store: OnlineStore | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.registry = registry or self.settings.load_registry()
        self._offline_store = offline_store
        self._online_store = online_store
        self._stream_log: StreamLog | None = None

    @property
    def offline_store(self) -> OfflineStore:
        """The Parquet offline store under the data folder (opened on first use)."""
        if self._offline_store is None:
            self._offline_store = OfflineStore(self.settings.offline_dir)
        return self._offline_store

    @property
    def online_store(self) -> OnlineStore:
        """The Redis online store at ``settings.redis_url`` (connected on first use); reads
        fail within ``settings.online_read.read_timeout_s`` when Redis hangs."""
        if self._online_store is None:
            reading = self.settings.online_read
            self._online_store = RedisOnlineStore(
                self.settings.redis_url, tenant=self.settings.tenant, tenants=self.settings.tenant_routing(),
                replica_reads=reading.replica_reads, l2=L2Cache(reading.l2_url) if reading.l2_url else None,
                **self.settings.online_timeouts(),
                generation_refresh_s=reading.generation_refresh_s,
            )
        return self._online_store

    def _duckdb_options(self) -> dict[str, Any]:
        """The DuckDB engine's memory limit and spill folder from the settings."""
        return {
            "duckdb_memory_limit": self.settings.duckdb_memory_limit,
            "duckdb_temp_directory": self.settings.duckdb_spill_dir,
        }

    def get_historical_features(
        self,
        entity_df: pd.DataFrame | pa.Table | str,
        features: Sequence[str] | str,
        *,
        full_feature_names: bool = False,
        inclusive: bool = False,
        engine: Literal["duckdb", "spark", "auto"] = "duckdb",
        entity_timestamp_column: str = "event_timestamp",
        spark: SparkSession | None = None,
    ) -> pd.DataFrame:
        """A point-in-time correct training frame (SEMANTICS.md).

        ``features`` is a list of ``"view:feature"`` references (``"view:*"`` for a whole
        view) or the name of a feature service. Every entity row comes back once, in order,
        with the features as of strictly before its timestamp (``inclusive=True`` allows
        equal timestamps), null where the view's ttl or the data has nothing.

        Stream views join their landed events (what the processor applied; every landed
        event in partitions the daily batch correction rewrote), and their windowed
        aggregations are folded from those events at each row's time, exactly as the online
        tiles are summed at read time.
        """
        requests = self.registry.resolve(features)
        if any(r.view.is_stream for r in requests):
            return self._historical_with_streams(
                entity_df, requests, full_feature_names=full_feature_names, inclusive=inclusive, engine=engine,
                entity_timestamp_column=entity_timestamp_column, spark=spark,
            )
        tables = [self.offline_store.feature_table(r.view, list(r.features)) for r in requests]
        result = point_in_time_join(
            entity_df,
            tables,
            engine=engine,
            inclusive=inclusive,
            full_feature_names=full_feature_names,
            entity_timestamp_column=entity_timestamp_column,
            spark=spark,
            **self._duckdb_options(),
        )
        assert isinstance(result, pd.DataFrame)  # the default output
        return result

    def _historical_with_streams(
        self,
        entity_df: pd.DataFrame | pa.Table | str,
        requests: list[ViewRequest],
        *,
        full_feature_names: bool,
        inclusive: bool,
        engine: Literal["duckdb", "spark", "auto"],
        entity_timestamp_column: str,
        spark: SparkSession | None,
    ) -> pd.DataFrame:
        """The training frame when stream views are requested: their latest-value features
        join the landed events like any table; their aggregations are folded from the
        landed events at each row's time (``streaming.offline``)."""
        from feature_platform.rows.timestamps import as_utc
        from feature_platform.streaming.offline import (
            aggregate_at,
            entity_keys,
            historical_inputs,
            stream_feature_table,
        )

        frame = entity_df if isinstance(entity_df, pd.DataFrame) else (
            entity_df.to_pandas() if isinstance(entity_df, pa.Table) else pd.read_parquet(entity_df)
        )
        tables = []
        windowed: list[tuple[ViewRequest, list[str], pa.Table]] = []
        for request in requests:
            view = request.view
            if not view.is_stream:
                tables.append(self.offline_store.feature_table(view, list(request.features)))
                continue
            events = historical_inputs(self.settings.offline_dir, self.settings.tenant, self.offline_store, view)
            aggregated = {f.name for f in view.aggregated_features}
            latest = [f for f in request.features if f not in aggregated]
            if latest:
                tables.append(stream_feature_table(events, view, latest))
            if len(latest) < len(request.features):
                windowed.append((request, [f for f in request.features if f in aggregated], events))
        if tables:
            joined = point_in_time_join(
                frame, tables, engine=engine, inclusive=inclusive, full_feature_names=full_feature_names,
                entity_timestamp_column=entity_timestamp_column, spark=spark, **self._duckdb_options(),
            )
            assert isinstance(joined, pd.DataFrame)
        else:
            joined = frame.reset_index(drop=True).copy()
        if windowed:
            records = frame.to_dict("records")
            times = [as_utc(pd.Timestamp(r[entity_timestamp_column]).to_pydatetime(), entity_timestamp_column) for r in records]
            for request, names, events in windowed:
                rows = [(entity_keys(r, request.view), t) for r, t in zip(records, times, strict=True)]
                values = aggregate_at(events, request.view, rows, names, inclusive=inclusive)
                for name in names:
                    joined[f"{request.view.name}__{name}" if full_feature_names else name] = values[name]
        order = list(frame.columns) + [
            f"{r.view.name}__{f}" if full_feature_names else f for r in requests for f in r.features
        ]
        return joined[order]

    def get_online_features(
        self,
        entity_rows: Sequence[Mapping[str, object]],
        features: Sequence[str] | str,
        *,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """The latest values per entity from the online store, with event times and statuses.

        One pipelined round trip for all views and entities; returns an ``OnlineResponse``
        (``.to_dict()``, ``.to_df()``).
        """
        requests = self.registry.resolve(features)
        return self.online_store.read(
            requests, list(entity_rows), now=now, full_feature_names=full_feature_names
        )

    def push(self, source: str | StreamSource, rows: object) -> PushResult:
        """Append events to a stream source's log, for the stream processor to apply.

        ``source`` is a StreamSource or the name of one that a registered view reads;
        ``rows`` a list of dicts (JSON-like: timestamps as datetimes or ISO 8601 strings,
        naive = UTC), a pandas DataFrame or an Arrow table with the source's join keys,
        event timestamp column and fields. All or nothing: a bad row raises
        ``InvalidRowsError`` naming the row and column; a partition too far behind raises
        the transient ``BackpressureError`` carrying ``retry_after`` (seconds); an
        unreachable Redis the transient ``OnlineStoreUnavailableError``.
        """
        from feature_platform.streaming.push import StreamLog, find_source

        stream = find_source(self.registry.views, source)
        if self._stream_log is None:
            self._stream_log = StreamLog(
                self.settings.redis_url, self.settings.tenant, rate_limiter=self.settings.push_rate_limiter()
            )
        return self._stream_log.push(stream, rows)

    def close(self) -> None:
        """Release the online store's and the event log's connections."""
        if self._online_store is not None:
            self._online_store.close()
        if self._stream_log is not None:
            self._stream_log.close()
