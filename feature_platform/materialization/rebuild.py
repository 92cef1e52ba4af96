"""Disaster recovery (the seed's backfill scenario 4): rebuild the online store from the
offline store, most critical views first, in parallel entity-key ranges, rate-limited by
the online store's read health, with progress that survives a crash.

Order: REAL_TIME, NEAR_REAL_TIME, BATCH, STATIC; within a tier by the view's
``recovery.priority`` tag (lower first, default :data:`DEFAULT_PRIORITY`), then definition
order. Per view, the newest offline row of every entity still within the ttl is taken,
entities are sorted by join key and cut into ranges of ``range_entities``; the range
boundaries and the finished ranges are kept in ``<data_dir>/rebuild/<tenant>/<view>.json``
(written atomically after each range). A rebuild started again after a crash reuses the
boundaries and skips the finished ranges. Writes go through the store's compare-and-set,
so a value a live publish wrote meanwhile is never replaced by an older one.
"""

from __future__ import annotations

import bisect
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from feature_platform.errors import ConfigError, OfflineStoreError
from feature_platform.materialization.adaptive_rate import AdaptiveRate, ReadLatencyProbe
from feature_platform.materialization.checkpoints import write_json_atomically
from feature_platform.materialization.online_loss import PublishRecords, record_publish
from feature_platform.materialization.schema_versions import SchemaVersions
from feature_platform.offline import OfflineStore
from feature_platform.online import OnlineStore, latest_per_entity
from feature_platform.specs import FeatureView, FreshnessTier, ViewRequest

logger = logging.getLogger(__name__)

PRIORITY_TAG = "recovery.priority"
DEFAULT_PRIORITY = 100
TIER_ORDER = (FreshnessTier.REAL_TIME, FreshnessTier.NEAR_REAL_TIME, FreshnessTier.BATCH, FreshnessTier.STATIC)


@dataclass(frozen=True)
class RebuildOptions:
    """How a rebuild loads: ``range_entities`` per range, ``workers`` ranges at a time,
    ``batch_rows`` per write call; the write rate starts at ``max_rows_per_s`` and halves
    (down to ``min_rows_per_s``) while the online read p99 exceeds ``max_read_p99_ms``."""

    range_entities: int = 10_000
    workers: int = 4
    batch_rows: int = 1_000
    max_rows_per_s: float = 20_000.0
    min_rows_per_s: float = 200.0
    max_read_p99_ms: float = 5.0

    def __post_init__(self) -> None:
        for name in ("range_entities", "workers", "batch_rows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Rebuild option {name} must be >= 1, got {getattr(self, name)}")

    def rate(self) -> AdaptiveRate:
        """A fresh adaptive pacer for one rebuild."""
        return AdaptiveRate(self.max_rows_per_s, self.min_rows_per_s, self.max_read_p99_ms / 1000)


def priority(view: FeatureView) -> int:
    """The view's ``recovery.priority`` tag (lower rebuilds first); ConfigError if not an int."""
    raw = view.tags.get(PRIORITY_TAG)
    if raw is None:
        return DEFAULT_PRIORITY
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"Feature view {view.name!r}: tag {PRIORITY_TAG}={raw!r} is not an integer (lower rebuilds first)"
        ) from None


def rebuild_order(views: Sequence[FeatureView]) -> list[FeatureView]:
    """``views`` (online ones only) in rebuild order: tier, then priority, then definition order."""
    online = [v for v in views if v.online]
    return sorted(online, key=lambda v: (TIER_ORDER.index(v.tier), priority(v), online.index(v)))


@dataclass
class ViewRebuild:
    """What the rebuild of one view did. ``ranges_skipped`` were finished by an earlier,
    interrupted rebuild; ``ranges_written`` lists the ranges this call wrote."""

    view: str
    entities: int
    ranges: int
    ranges_skipped: list[int] = field(default_factory=list)
    ranges_written: list[int] = field(default_factory=list)
    written: int = 0
    skipped_not_newer: int = 0
    skipped_expired: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the log and the CLI."""
        return (
            f"{self.view}: {self.entities} entities in {self.ranges} ranges ({len(self.ranges_skipped)} already done "
            f"by an earlier run), {self.written} written, {self.skipped_not_newer} kept a newer value, "
            f"{self.skipped_expired} already expired, {self.seconds:.1f} s"
        )


@dataclass
class RebuildResult:
    """Every view's rebuild, in the order they ran, and how the write rate adapted."""

    rebuild_id: str
    views: list[ViewRebuild]
    final_rows_per_s: float
    rate_changes: int
    read_p99_ms: float | None


class RangeProgress:
    """The range boundaries and finished ranges of one view's rebuild, on disk."""

    def __init__(self, root: Path, view: FeatureView) -> None:
        self.path = root / f"{view.name}.json"
        self.view = view
        self._lock = threading.Lock()
        self.boundaries: list[tuple[object, ...]] = []
        self.done: set[int] = set()
        self.rebuild_id = ""

    def load(self) -> bool:
        """Read an interrupted rebuild's progress; False when there is none."""
        if not self.path.exists():
            return False
        try:
            data = json.loads(self.path.read_text())
            self.boundaries = [tuple(b) for b in data["boundaries"]]
            self.done = set(data["done"])
            self.rebuild_id = data["rebuild_id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise OfflineStoreError(
                f"Rebuild progress {self.path} is unreadable ({exc}); delete it or pass --fresh to start over"
            ) from None
        return True

    def start(self, boundaries: list[tuple[object, ...]], rebuild_id: str) -> None:
        """Begin a new rebuild of the view with these range boundaries."""
        self.boundaries, self.done, self.rebuild_id = boundaries, set(), rebuild_id
        self._save()

    def finish_range(self, index: int) -> None:
        """Record range ``index`` as written (atomically, so a crash never loses others)."""
        with self._lock:
            self.done.add(index)
            self._save()

    def clear(self) -> None:
        """The view is rebuilt: nothing to resume."""
        self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        write_json_atomically(
            self.path,
            {"rebuild_id": self.rebuild_id, "boundaries": [list(b) for b in self.boundaries], "done": sorted(self.done)},
        )


def latest_offline_rows(view: FeatureView, offline_store: OfflineStore, now: datetime) -> tuple[pa.Table, list[tuple[object, ...]]]:
    """The newest offline row per entity within the ttl, sorted by join key, and the keys."""
    start = now - view.ttl if view.ttl is not None else None
    rows = latest_per_entity(offline_store.read(view, start, None), view.join_keys)
    keys = list(zip(*(rows.column(k).to_pylist() for k in view.join_keys), strict=True)) if rows.num_rows else []
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return rows.take(pa.array(order, pa.int64())), [keys[i] for i in order]


def _rebuild_view(
    view: FeatureView,
    offline_store: OfflineStore,
    online_store: OnlineStore,
    progress: RangeProgress,
    options: RebuildOptions,
    rate: AdaptiveRate,
    records: PublishRecords,
    rebuild_id: str,
    rows: pa.Table,
    keys: list[tuple[object, ...]],
    log: Callable[[str], None],
) -> ViewRebuild:
    started = time.monotonic()
    if progress.load():
        log(f"{view.name}: resuming rebuild {progress.rebuild_id}: {len(progress.done)} of "
            f"{len(progress.boundaries)} ranges already done")
    else:
        progress.start([keys[i] for i in range(0, len(keys), options.range_entities)], rebuild_id)
    bounds = progress.boundaries
    # A range is [boundary i, boundary i+1) in key order; the first one also takes keys
    # below its boundary (the offline store may have gained entities since the plan).
    cuts = [0] + [bisect.bisect_left(keys, b) for b in bounds[1:]] + [len(keys)]
    result = ViewRebuild(view.name, len(keys), len(bounds), ranges_skipped=sorted(progress.done))
    todo = [i for i in range(len(bounds)) if i not in progress.done]
    lock = threading.Lock()

    def write_range(index: int) -> None:
        for offset in range(cuts[index], cuts[index + 1], options.batch_rows):
            batch = rows.slice(offset, min(options.batch_rows, cuts[index + 1] - offset))
            rate.acquire(batch.num_rows)
            written = online_store.publish(view, batch)
            with lock:
                result.written += written.written
                result.skipped_not_newer += written.skipped_not_newer
                result.skipped_expired += written.skipped_expired
        progress.finish_range(index)
        with lock:
            result.ranges_written.append(index)
            done = len(progress.done)
            log(f"{view.name}: range {index + 1}/{len(bounds)} done ({cuts[index + 1] - cuts[index]} entities); "
                f"{done}/{len(bounds)} ranges, {result.written} written, write rate {rate.rows_per_s:,.0f} rows/s")

    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix=f"rebuild-{view.name}") as pool:
        for future in [pool.submit(write_range, i) for i in todo]:
            future.result()
    result.ranges_written.sort()
    record_publish(view, online_store, offline_store, records, rebuild_id, len(keys), restores=True)
    progress.clear()
    result.seconds = time.monotonic() - started
    log(result.summary())
    return result


def rebuild_online(
    views: Sequence[FeatureView],
    offline_store: OfflineStore,
    online_store: OnlineStore,
    state_dir: Path,
    *,
    options: RebuildOptions | None = None,
    fresh: bool = False,
    now: datetime | None = None,
    log: Callable[[str], None] = logger.info,
) -> RebuildResult:
    """Rebuild the online values of ``views`` from the offline store (see the module docstring).

    ``state_dir`` (the data folder) holds the progress files and the publish records.
    ``fresh`` discards an interrupted rebuild's progress instead of resuming it. The read
    probe times single-entity reads of the view being loaded while the writes run.
    """
    options = options or RebuildOptions()
    now = now or datetime.now(UTC)
    rate = options.rate()
    rebuild_id = f"rebuild-{uuid.uuid4().hex[:12]}"
    ordered = rebuild_order([v for v in views if not v.is_stream])
    schemas = SchemaVersions(state_dir)
    for view in ordered:
        schemas.check(view)  # an incompatible change is refused before anything is written
    for view in views:
        if view.is_stream:
            log(f"{view.name}: skipped, a stream view (its online state comes from its stream processor)")
    root = Path(state_dir) / "rebuild" / online_store.tenant
    records = PublishRecords(state_dir, online_store.tenant)
    log(f"rebuild {rebuild_id}: {', '.join(f'{v.name} ({v.tier.value})' for v in ordered)}; "
        f"up to {options.max_rows_per_s:,.0f} rows/s, backing off while read p99 > {options.max_read_p99_ms} ms")
    loading: list[tuple[FeatureView, list[tuple[object, ...]]]] = []
    probe_rng = random.Random(0)

    def read_once() -> None:
        # A model server's read: one entity of the view being loaded.
        if loading and loading[-1][1]:
            view, keys = loading[-1]
            entity = dict(zip(view.join_keys, probe_rng.choice(keys), strict=True))
            online_store.read([ViewRequest(view, tuple(view.feature_names))], [entity])

    results = []
    with ReadLatencyProbe(read_once, rate) as probe:
        for view in ordered:
            progress = RangeProgress(root, view)
            if fresh:
                progress.clear()
            rows, keys = latest_offline_rows(view, offline_store, now)
            loading.append((view, keys))
            results.append(
                _rebuild_view(view, offline_store, online_store, progress, options, rate, records, rebuild_id, rows, keys, log)
            )
            schemas.record(view)
    p99 = probe.p99()
    return RebuildResult(rebuild_id, results, rate.rows_per_s, len(rate.changes), None if p99 is None else p99 * 1e3)

