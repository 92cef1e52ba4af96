"""IO managers: feature rows to the Parquet offline store and to the Redis online store.

Both take the run's ``feature_platform`` resource as a required resource rather than as a
nested copy: a nested resource is configured when the definitions are built and never sees
the run config, so ``online_write_rate_limit`` set for a run would not reach the publish.
"""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pyarrow as pa

from feature_platform.defs.off_peak import OFF_PEAK_RATE_METADATA
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.errors import OnlineStoreError
from feature_platform.materialization.online_loss import record_publish
from feature_platform.materialization.schema_versions import SchemaVersions
from feature_platform.online import PublishProgress
from feature_platform.specs import FeatureView


def _view_for(context: dg.OutputContext | dg.InputContext, platform: FeaturePlatformResource) -> FeatureView:
    # Offline assets are keyed [view], online assets [online, view]: the last part names the view.
    return platform.feature_registry.view(context.asset_key.path[-1])


def _window(context: dg.OutputContext | dg.InputContext) -> tuple[datetime, datetime]:
    # asset_partitions_time_window covers one partition and single-run ranges alike.
    window = context.asset_partitions_time_window
    return window.start, window.end


class OfflineStoreIOManager(dg.IOManager):
    """Writes a feature view asset's output as its offline partitions; loads them back.

    Each partition is replaced atomically, so a failed run leaves the previous data.
    """

    def __init__(self, platform: FeaturePlatformResource) -> None:
        self.platform = platform

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        """Replace every partition of the run's window with the rows of ``obj``."""
        view = _view_for(context, self.platform)
        start, end = _window(context)
        writes = self.platform.offline_store().write_partitions(view, start, end, obj)
        context.add_output_metadata(
            {
                "dagster/row_count": dg.MetadataValue.int(sum(w.row_count for w in writes)),
                "partitions_written": len(writes),
                "path": dg.MetadataValue.path(str(self.platform.settings.offline_dir / view.name)),
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
            }
        )

    def load_input(self, context: dg.InputContext) -> pa.Table:
        """The offline rows of the upstream partitions' window."""
        view = _view_for(context, self.platform)
        start, end = _window(context)
        table: pa.Table = self.platform.offline_store().read(view, start, end)
        return table


class RedisOnlineStoreIOManager(dg.IOManager):
    """Publishes feature rows to the Redis online store with the compare-and-set rule.

    Rows older than what Redis holds for an entity are skipped inside Redis, so a
    correction run or a backfill of old partitions never overwrites a newer value.
    """

    def __init__(self, platform: FeaturePlatformResource) -> None:
        self.platform = platform

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        """Publish each entity's newest row of ``obj`` to Redis with compare-and-set."""
        view = _view_for(context, self.platform)
        start, end = _window(context)
        window = f"[{start.isoformat()}, {end.isoformat()})"
        every = self.platform.settings.online_write.chunk_rows
        next_log = every

        def log_progress(progress: PublishProgress) -> None:
            # A backfill publishes many entities: log every `every` of them, and the end.
            nonlocal next_log
            if progress.done < next_log and progress.done < progress.entities:
                return
            next_log = (progress.done // every + 1) * every
            context.log.info(
                f"{view.name} {window}: {progress.done}/{progress.entities} entities, "
                f"{progress.written} written, {progress.unchanged} unchanged, "
                f"{progress.skipped_not_newer} kept a newer value, "
                f"{progress.skipped_expired} already expired ({progress.rows_per_s:,.0f} rows/s)"
            )

        # Refused before anything is written when the view changed incompatibly.
        schema = SchemaVersions(self.platform.settings.data_dir).record(view)
        if schema.changed and schema.version_before is not None:
            context.log.info(
                f"{view.name}: schema version {schema.version_before} -> {schema.version} "
                f"(added {list(schema.added)}, removed {list(schema.removed)})"
            )
        store = self.platform.online_store()
        if schema.added and schema.version_before is not None:
            # The run that brings new features merges just them into the stored values;
            # the publish after it then finds those values already equal and leaves them.
            context.log.info(f"{view.name}: {store.merge_features(view, obj, schema.added)}")
        # Set by the online asset when a UI backfill runs outside the off-peak window.
        off_peak = context.output_metadata.get(OFF_PEAK_RATE_METADATA)
        rate = None if off_peak is None else float(off_peak.value)
        result = store.publish(view, obj, progress=log_progress, rate_limit=rate)
        if not record_publish(
            view, store, self.platform.offline_store(), self.platform.publish_records(), context.run_id, result.entities
        ):
            context.log.warning(
                f"online store lost data for {view.name} (its publish marker is gone or foreign): this run "
                "published its partitions only; run `feature-platform rebuild-online` to restore the rest"
            )
        context.add_output_metadata(
            {
                "dagster/row_count": dg.MetadataValue.int(result.entities),
                "rows_in": result.rows_in,
                "entities": result.entities,
                "written": result.written,
                "unchanged": result.unchanged,
                "skipped_not_newer": result.skipped_not_newer,
                "skipped_expired": result.skipped_expired,
                "schema_version": schema.version,
                "tenant": self.platform.settings.tenant,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
            }
        )

    def load_input(self, context: dg.InputContext) -> pa.Table:
        """Refuse: online values are served by the SDK, not passed between assets."""
        raise OnlineStoreError(
            f"Asset {context.asset_key.to_user_string()} lives in the online store and is not "
            "an input for other assets; read it with FeatureStore.get_online_features, or "
            "depend on the offline asset instead"
        )


@dg.io_manager(required_resource_keys={"feature_platform"})
def offline_io_manager(init_context: dg.InitResourceContext) -> OfflineStoreIOManager:
    """The offline IO manager over the run's (run-config-aware) ``feature_platform`` resource."""
    return OfflineStoreIOManager(init_context.resources.feature_platform)


@dg.io_manager(required_resource_keys={"feature_platform"})
def online_io_manager(init_context: dg.InitResourceContext) -> RedisOnlineStoreIOManager:
    """The online IO manager over the run's (run-config-aware) ``feature_platform`` resource."""
    return RedisOnlineStoreIOManager(init_context.resources.feature_platform)
