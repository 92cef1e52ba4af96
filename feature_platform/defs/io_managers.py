"""IO managers: feature rows to the Parquet offline store and to the Redis online store."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pyarrow as pa

from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.errors import OnlineStoreError
from feature_platform.specs import FeatureView


def _view_for(context: dg.OutputContext | dg.InputContext, platform: FeaturePlatformResource) -> FeatureView:
    # Offline assets are keyed [view], online assets [online, view]: the last part names the view.
    return platform.feature_registry.view(context.asset_key.path[-1])


def _window(context: dg.OutputContext | dg.InputContext) -> tuple[datetime, datetime]:
    # asset_partitions_time_window covers one partition and single-run ranges alike.
    window = context.asset_partitions_time_window
    return window.start, window.end


class OfflineStoreIOManager(dg.ConfigurableIOManager):
    """Writes a feature view asset's output as its offline partitions; loads them back.

    Each partition is replaced atomically, so a failed run leaves the previous data.
    """

    platform: FeaturePlatformResource

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        view = _view_for(context, self.platform)
        start, end = _window(context)
        writes = self.platform.offline_store().write_partitions(view, start, end, obj)
        context.add_output_metadata(
            {
                "row_count": sum(w.row_count for w in writes),
                "partitions_written": len(writes),
                "path": dg.MetadataValue.path(str(self.platform.settings.offline_dir / view.name)),
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
            }
        )

    def load_input(self, context: dg.InputContext) -> pa.Table:
        view = _view_for(context, self.platform)
        start, end = _window(context)
        table: pa.Table = self.platform.offline_store().read(view, start, end)
        return table


class RedisOnlineStoreIOManager(dg.ConfigurableIOManager):
    """Publishes feature rows to the Redis online store with the compare-and-set rule.

    Rows older than what Redis holds for an entity are skipped inside Redis, so a
    correction run or a backfill of old partitions never overwrites a newer value.
    """

    platform: FeaturePlatformResource

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        view = _view_for(context, self.platform)
        start, end = _window(context)
        result = self.platform.online_store().write(view, obj)
        context.log.info(
            f"{view.name} [{start.isoformat()}, {end.isoformat()}): {result.written} entities written, "
            f"{result.skipped_not_newer} kept a newer value, {result.skipped_expired} already expired"
        )
        context.add_output_metadata(
            {
                "rows_in": result.rows_in,
                "entities": result.entities,
                "written": result.written,
                "skipped_not_newer": result.skipped_not_newer,
                "skipped_expired": result.skipped_expired,
                "tenant": self.platform.settings.tenant,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
            }
        )

    def load_input(self, context: dg.InputContext) -> pa.Table:
        raise OnlineStoreError(
            f"Asset {context.asset_key.to_user_string()} lives in the online store and is not "
            "an input for other assets; read it with FeatureStore.get_online_features, or "
            "depend on the offline asset instead"
        )
