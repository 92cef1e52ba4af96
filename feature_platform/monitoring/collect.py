"""Gathering a view's staleness inputs from the offline and online stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.compute as pc

from feature_platform.errors import OnlineStoreUnavailableError
from feature_platform.materialization.online_loss import PublishRecords, detect_loss
from feature_platform.monitoring.staleness import StalenessReport, compute_staleness
from feature_platform.monitoring.thresholds import AlertThresholds
from feature_platform.offline import OfflineStore
from feature_platform.online import OnlineStore
from feature_platform.specs import FeatureView

MAX_PARTITIONS_SCANNED = 48


def offline_max_event_timestamp(view: FeatureView, offline_store: OfflineStore) -> datetime | None:
    """The newest event timestamp offline, reading the newest partitions only."""
    starts = offline_store.materialized_partitions(view)
    for start in reversed(starts[-MAX_PARTITIONS_SCANNED:]):
        table = offline_store.read(view, start, start + view.partitioning.step, columns=["event_timestamp"])
        if table.num_rows:
            value: datetime = pc.max(table["event_timestamp"]).as_py()
            return value
    return None


def last_partition_write(view: FeatureView, offline_store: OfflineStore) -> datetime | None:
    """When the offline store last replaced any partition of ``view`` (file times)."""
    starts = offline_store.materialized_partitions(view)
    if not starts:
        return None
    newest = max(offline_store.partition_path(view, s).stat().st_mtime for s in starts)
    return datetime.fromtimestamp(newest, tz=UTC)


def collect_staleness(
    view: FeatureView,
    offline_store: OfflineStore,
    online_store: OnlineStore,
    *,
    now: datetime,
    last_materialization: datetime | None = None,
    materialization_failed: bool = False,
    thresholds: AlertThresholds | None = None,
    publish_records: PublishRecords | None = None,
) -> StalenessReport:
    """The view's staleness report at ``now``, measured from what the stores hold.

    ``last_materialization`` defaults to the newest partition file's time. An unreachable
    online store is reported as such (an EMERGENCY), not raised. Given the platform's
    ``publish_records``, a store that lost the view's data is an EMERGENCY too.
    """
    online_unreachable = False
    online_lost = None
    online_ts: list[datetime | None] | None = None
    newest_created: datetime | None = None
    try:
        online_ts = []
        for _key, event_ts, created_ts, _values in online_store.iter_entities(view, now=now):
            online_ts.append(event_ts)
            newest_created = created_ts if newest_created is None else max(newest_created, created_ts)
        if publish_records is not None:
            online_lost = detect_loss(view, offline_store, online_store, publish_records, now=now).reason
    except OnlineStoreUnavailableError:
        online_unreachable = True
        online_ts = None
    return compute_staleness(
        view,
        now=now,
        offline_max_event_ts=offline_max_event_timestamp(view, offline_store),
        online_event_timestamps=online_ts,
        last_materialization=last_materialization or last_partition_write(view, offline_store),
        thresholds=thresholds or AlertThresholds.for_view(view),
        materialization_failed=materialization_failed,
        online_unreachable=online_unreachable,
        online_lost=online_lost,
        last_computed=newest_created,
    )
