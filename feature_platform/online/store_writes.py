"""Writes of the Redis online store: publish and merge, with compare-and-set.

Every write goes through the ``WRITE_IF_NEWER`` Lua script
(:mod:`feature_platform.online.scripts`): many keys per ``EVALSHA``, several ``EVALSHA``
per pipelined round trip (``batch_size`` rows), rows of one hash-tag bucket together on a
Redis Cluster, with an optional rows/s limit. The copies of spread hot keys get the same
compare-and-set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from feature_platform.errors import ConfigError
from feature_platform.online.codec import decode_values, encode_values
from feature_platform.online.keys import key_tag
from feature_platform.online.latest import latest_per_entity
from feature_platform.online.results import (
    MergeResult,
    ProgressCallback,
    PublishProgress,
    WriteResult,
)
from feature_platform.online.scripts import merge_if_unchanged_calls, write_if_newer_calls
from feature_platform.online.spreading import SpreadTable
from feature_platform.online.store_core import READ_FIELDS, RedisStoreCore
from feature_platform.rows.conversion import view_table
from feature_platform.rows.timestamps import epoch_micros, utc_now_micros
from feature_platform.specs import FeatureView

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


class StoreWrites(RedisStoreCore):
    """:meth:`publish` and :meth:`merge_features` of the Redis online store."""

    def publish(
        self,
        view: FeatureView,
        rows: pa.Table | pd.DataFrame,
        *,
        now: datetime | None = None,
        progress: ProgressCallback | None = None,
        rate_limit: float | None = None,
    ) -> WriteResult:
        """Publish ``rows`` to ``view`` with compare-and-set (see the module docstring and
        :meth:`OnlineStore.publish`)."""
        if rate_limit is not None and rate_limit <= 0:
            raise ConfigError(f"rate_limit must be > 0 rows/s or None, got {rate_limit}")
        started = time.monotonic()
        clock_micros = utc_now_micros()
        now_micros = clock_micros if now is None else epoch_micros(now)
        arrow = view_table(rows, view, f"the rows written to feature view {view.name!r}")
        rows_in = arrow.num_rows
        latest = latest_per_entity(arrow, view.join_keys)
        entities = latest.num_rows
        events = latest.column("event_timestamp").cast(pa.int64()).to_numpy()
        if view.ttl is not None:
            ttl_micros = view.ttl // timedelta(microseconds=1)
            alive = events + ttl_micros >= now_micros
            skipped_expired = int(entities - alive.sum())
            if skipped_expired:
                latest = latest.filter(pa.array(alive))
                events = events[alive]
            # Reads enforce the exact bound from the stored event time; the key lives a
            # little longer (expiry_grace, rounded up to Redis's ms) so that clock skew
            # between this host and Redis never turns a servable value into NOT_FOUND.
            # An explicit `now` is the caller's clock: expiry is shifted to Redis's clock.
            shift = clock_micros - now_micros + self._grace_micros
            expire_at: list[object] = (-(-(events + ttl_micros + shift) // 1000)).tolist()
        else:
            skipped_expired = 0
            expire_at = [""] * latest.num_rows
        layout, spread = self._write_layout(view)
        keys = layout.keys([latest.column(k).to_pylist() for k in view.join_keys])
        blobs = _encode_rows(latest, view)
        event_list, created = events.tolist(), latest.column("created_timestamp").cast(pa.int64()).to_pylist()
        report: Callable[[int, int, int], None] | None = None
        if progress is not None:
            def report(done: int, written: int, unchanged: int) -> None:
                progress(
                    PublishProgress(
                        view.name, rows_in, entities, skipped_expired + done, written,
                        skipped_expired, time.monotonic() - started, unchanged,
                    )
                )
        written, unchanged = self._write_rows(view, keys, event_list, created, expire_at, blobs, report, rate_limit)
        if spread:
            self._write_copies(view, spread, keys, event_list, created, expire_at, blobs)
        if self.cache is not None:
            self.cache.invalidate(keys)
        if self.l2 is not None:
            self.l2.invalidate(keys)
        result = WriteResult(
            rows_in=rows_in,
            entities=entities,
            written=written,
            skipped_not_newer=entities - skipped_expired - written - unchanged,
            skipped_expired=skipped_expired,
            unchanged=unchanged,
        )
        logger.info(
            "online write %s/%s at %s: %s", self.tenant, view.name, self.endpoint.where, result
        )
        return result

    def merge_features(self, view: FeatureView, rows: pa.Table | pd.DataFrame, features: Sequence[str]) -> MergeResult:
        """Merge only ``features`` of each entity's newest row of ``rows`` into the value
        Redis holds, where Redis holds that very row (same event and created time): the
        other features' stored values and the key's expiry stay as they are. An entity
        Redis does not hold, or holds with another (newer or older) pair, is left alone;
        a value changed between the read and the write is left alone too (the write is a
        compare-and-set on the value read)."""
        for name in features:
            view.feature(name)
        arrow = latest_per_entity(view_table(rows, view, f"the rows merged into {view.name!r}"), view.join_keys)
        layout, spread = self._write_layout(view)
        keys = layout.keys([arrow.column(k).to_pylist() for k in view.join_keys])
        events = arrow.column("event_timestamp").cast(pa.int64()).to_pylist()
        created = arrow.column("created_timestamp").cast(pa.int64()).to_pylist()
        columns = {name: arrow.column(name).to_pylist() for name in features}
        pending: list[tuple[bytes, bytes, bytes, bytes, bytes]] = []
        absent = other_pair = 0
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start : start + self.batch_size]
            stored_rows = self.transport.read_hashes(batch, READ_FIELDS, f"reading {view.name!r} to merge features")
            for i, (key, (event, stored_created, blob)) in enumerate(zip(batch, stored_rows, strict=True), start):
                if event is None:
                    absent += 1
                elif (int(event), int(stored_created)) != (events[i], created[i]):
                    other_pair += 1
                else:
                    values = dict(decode_values(blob))
                    values.update({name: column[i] for name, column in columns.items()})
                    merged = encode_values(values)
                    if merged != blob:
                        pending += [(k, event, stored_created, blob, merged) for k in spread.keys_of(key)]
        merged_count = 0
        for start in range(0, len(pending), self.batch_size):
            calls = merge_if_unchanged_calls(pending[start : start + self.batch_size])
            merged_count += sum(self.transport.execute(calls, f"merging features into {view.name!r}"))
        if self.cache is not None:
            self.cache.invalidate(keys)
        if self.l2 is not None:
            self.l2.invalidate(keys)
        result = MergeResult(view.name, tuple(features), len(keys), merged_count, absent, other_pair)
        logger.info("online merge %s/%s: %s", self.tenant, view.name, result)
        return result

    def _write_rows(
        self,
        view: FeatureView,
        keys: list[bytes],
        events: list[int],
        created: list[int],
        expire_at: list[object],
        blobs: list[bytes],
        report: Callable[[int, int, int], None] | None = None,
        rate_limit: float | None = None,
    ) -> tuple[int, int]:
        """Compare-and-set every row, at most the lower of ``rate_limit`` and the store's
        write rate limit in rows/s: (keys changed, keys already identical)."""
        limit = min((r for r in (rate_limit, self.write_rate_limit) if r is not None), default=None)
        if not self.transport.single_slot_calls:
            return self._write_batches(view, keys, events, created, expire_at, blobs, None, report, limit)
        # A script call's keys must share a slot: rows of one bucket go together.
        tags = [key_tag(key) for key in keys]
        order = sorted(range(len(keys)), key=tags.__getitem__)
        return self._write_batches(
            view, [keys[i] for i in order], [events[i] for i in order], [created[i] for i in order],
            [expire_at[i] for i in order], [blobs[i] for i in order], [tags[i] for i in order], report, limit,
        )

    def _write_copies(
        self,
        view: FeatureView,
        spread: SpreadTable,
        keys: list[bytes],
        events: list[int],
        created: list[int],
        expire_at: list[object],
        blobs: list[bytes],
    ) -> None:
        """The same compare-and-set on every copy of the spread hot keys among ``keys``."""
        rows = [(copy, i) for i, key in enumerate(keys) if key in spread for copy in spread.keys_of(key)[1:]]
        if rows:
            self._write_rows(
                view, [copy for copy, _ in rows], [events[i] for _, i in rows], [created[i] for _, i in rows],
                [expire_at[i] for _, i in rows], [blobs[i] for _, i in rows],
            )

    def _write_batches(
        self,
        view: FeatureView,
        keys: list[bytes],
        events: list[int],
        created: list[int],
        expire_at: list[object],
        blobs: list[bytes],
        tags: list[bytes] | None,
        report: Callable[[int, int, int], None] | None,
        rate_limit: float | None,
    ) -> tuple[int, int]:
        """Run the compare-and-set calls in batches, at most ``rate_limit`` rows/s: (keys
        changed, keys already identical)."""
        written = unchanged = 0
        started = time.monotonic()
        total = len(keys)
        if report is not None and not total:
            report(0, 0, 0)
        chunk = self.script_keys
        for batch_start in range(0, total, self.batch_size):
            batch_end = min(batch_start + self.batch_size, total)
            commands = list(
                write_if_newer_calls(keys, events, created, expire_at, blobs, batch_start, batch_end, chunk, tags)
            )
            replies = self.transport.execute(commands, f"writing feature view {view.name!r}")
            for changed, same in replies:
                written += int(changed)
                unchanged += int(same)
            if rate_limit is not None:
                ahead = batch_end / rate_limit - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if report is not None:
                report(batch_end, written, unchanged)
        return written, unchanged


def _encode_rows(table: pa.Table, view: FeatureView) -> list[bytes]:
    """The stored value blob of every row."""
    names = view.feature_names
    columns = [table.column(n).to_pylist() for n in names]
    encode: Callable[[Mapping[str, object]], bytes] = encode_values
    return [encode(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]
