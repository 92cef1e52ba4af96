"""Noticing that the online store lost data (a Redis restarted empty, a lost node, a restore
from an old snapshot), so that nothing keeps trusting "already published".

Every publish leaves a marker in Redis per (tenant, view): the run id and the entity count
(:class:`~feature_platform.online.PublishMarker`), and records the run id beside the
offline store (``<data_dir>/online_markers/<tenant>/<view>.json``, the last
:data:`KEPT_RUNS` runs, so concurrent publishes never look foreign to each other). The
store lost data when:

* the platform published the view before but Redis has no marker (emptied);
* Redis's marker names a run the platform never recorded (a foreign or restored store);
* on a seeded sample of entities the offline store holds within the view's ttl, far
  fewer than expected have an online value (a partly lost store; :data:`MIN_PRESENT`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc

from feature_platform.errors import OfflineStoreError, OnlineStoreError
from feature_platform.materialization.checkpoints import write_json_atomically
from feature_platform.offline import OfflineStore
from feature_platform.online import FeatureStatus, OnlineStore, PublishMarker
from feature_platform.specs import FeatureView, ViewRequest

KEPT_RUNS = 50
SAMPLE_ENTITIES = 200
MIN_PRESENT = 0.5
# A store that lost a view is whole again only when every sampled entity is back.
HEAL_MIN_PRESENT = 1.0
MAX_PARTITIONS_SAMPLED = 48
# Entities this close to their expiry may legitimately be gone online: not sampled.
_EXPIRY_MARGIN = timedelta(hours=1)


class OnlineStoreLostError(OnlineStoreError):
    """The online store lost data of some views: "already published" cannot be trusted."""

    def __init__(self, reports: list[LossReport]) -> None:
        self.reports = reports
        views = ", ".join(r.view for r in reports)
        details = "; ".join(f"{r.view}: {r.reason}" for r in reports)
        super().__init__(
            f"online store lost data for {views} ({details}). Partitions recorded as done are not "
            f"online any more: run `feature-platform rebuild-online --view {' --view '.join(r.view for r in reports)}` "
            "(or the rebuild_online_job) before backfilling or resuming incremental publishes"
        )


@dataclass(frozen=True)
class LossReport:
    """Whether ``view``'s online data is lost, why, and what the check looked at."""

    view: str
    lost: bool
    reason: str | None
    marker: PublishMarker | None
    sampled: int = 0
    present: int = 0

    @property
    def message(self) -> str:
        """The P1 line: ``online store lost data for <view>: <reason>``."""
        return f"online store lost data for {self.view}: {self.reason}"


class PublishRecords:
    """The platform's own record of the runs that published each view of one tenant."""

    def __init__(self, data_dir: Path, tenant: str) -> None:
        self.root = Path(data_dir) / "online_markers" / tenant

    def _path(self, view_name: str) -> Path:
        return self.root / f"{view_name}.json"

    def runs(self, view_name: str) -> list[str]:
        """Run ids that published ``view_name``, oldest first (empty: never published)."""
        path = self._path(view_name)
        if not path.exists():
            return []
        try:
            return list(json.loads(path.read_text())["runs"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OfflineStoreError(
                f"Publish record {path} is unreadable ({exc}); delete it (loss detection for "
                f"{view_name!r} restarts from the next publish)"
            ) from None

    def add(self, view_name: str, run_id: str) -> None:
        """Record that ``run_id`` published ``view_name``."""
        runs = [r for r in self.runs(view_name) if r != run_id] + [run_id]
        write_json_atomically(self._path(view_name), {"runs": runs[-KEPT_RUNS:]})


def record_publish(
    view: FeatureView,
    online_store: OnlineStore,
    offline_store: OfflineStore,
    records: PublishRecords,
    run_id: str,
    entities: int,
    *,
    restores: bool = False,
) -> bool:
    """Leave the publish marker of ``run_id`` in Redis and record it locally.

    A publish into a store that lost the view (no marker, or a foreign one) marks it
    healthy again only when every sampled entity is back (a full republish of every
    partition); a partial one leaves the loss visible until a rebuild (``restores=True``)
    or a full republish repairs it. Returns whether the marker was written.
    """
    known = records.runs(view.name)
    if known and not restores:
        marker = online_store.read_marker(view)
        if marker is None or marker.run_id not in known:
            sample = _sampled_presence(
                view, offline_store, online_store, datetime.now(UTC), SAMPLE_ENTITIES, 0, HEAL_MIN_PRESENT
            )
            if sample is not None and sample.lost:
                return False
    online_store.write_marker(view, PublishMarker(run_id, entities, datetime.now(UTC).isoformat()))
    records.add(view.name, run_id)
    return True


def _sample_keys(
    view: FeatureView, offline_store: OfflineStore, now: datetime, size: int, seed: int
) -> list[dict[str, object]]:
    """A seeded sample of entities whose newest offline row (in the newest partitions) is
    still within the view's ttl at ``now``: each must have an online value."""
    starts = offline_store.materialized_partitions(view)[-MAX_PARTITIONS_SAMPLED:]
    if not starts:
        return []
    oldest = now - view.ttl + _EXPIRY_MARGIN if view.ttl is not None else None
    first = starts[0] if oldest is None else max(starts[0], view.partitioning.floor(oldest))
    table = offline_store.read(view, first, now, columns=[*view.join_keys, "event_timestamp"])
    if oldest is not None and table.num_rows:
        table = table.filter(pc.greater(table["event_timestamp"], oldest))
    if not table.num_rows:
        return []
    entities = sorted({tuple(row.values()) for row in table.select(view.join_keys).to_pylist()}, key=repr)
    chosen = random.Random(seed).sample(entities, min(size, len(entities)))
    return [dict(zip(view.join_keys, key, strict=True)) for key in chosen]


def detect_loss(
    view: FeatureView,
    offline_store: OfflineStore,
    online_store: OnlineStore,
    records: PublishRecords,
    *,
    now: datetime | None = None,
    sample_size: int = SAMPLE_ENTITIES,
    min_present: float = MIN_PRESENT,
    seed: int = 0,
) -> LossReport:
    """Whether ``view``'s online data is lost (see the module docstring); a view never
    published is not lost."""
    now = now or datetime.now(UTC)
    known = records.runs(view.name)
    marker = online_store.read_marker(view)
    if known and marker is None:
        return LossReport(view.name, True, "its publish marker is gone (the store was emptied or replaced)", None)
    if known and marker is not None and marker.run_id not in known:
        return LossReport(
            view.name, True,
            f"its publish marker names run {marker.run_id!r}, which this platform never recorded "
            "(a restored or foreign store)", marker,
        )
    if not known and marker is None:
        return LossReport(view.name, False, None, None)
    sample = _sampled_presence(view, offline_store, online_store, now, sample_size, seed, min_present)
    if sample is None:
        return LossReport(view.name, False, None, marker)
    return LossReport(view.name, sample.lost, sample.reason, marker, sample.sampled, sample.present)


def _sampled_presence(
    view: FeatureView,
    offline_store: OfflineStore,
    online_store: OnlineStore,
    now: datetime,
    sample_size: int,
    seed: int,
    min_present: float,
) -> LossReport | None:
    """How many of a sample of the offline store's live entities have an online value;
    lost when fewer than ``min_present`` of them. None when there is nothing to sample."""
    keys = _sample_keys(view, offline_store, now, sample_size, seed)
    if not keys:
        return None
    response = online_store.read([ViewRequest(view, (view.feature_names[0],))], keys, now=now)
    feature = view.feature_names[0]
    present = sum(1 for entity in response.entities if entity[feature].status is not FeatureStatus.NOT_FOUND)
    lost = present < min_present * len(keys)
    reason = f"only {present} of {len(keys)} sampled entities the offline store holds have an online value"
    return LossReport(view.name, lost, reason if lost else None, None, len(keys), present)
