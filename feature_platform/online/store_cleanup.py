"""Scans, deletes and the active cleanup of the Redis online store.

Cleanup removes a value only if it is still the one the scan saw (``DELETE_IF_EVENT``), so
a concurrent newer write survives; a spread key's copies go with their key.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta

from feature_platform.online.codec import decode_values
from feature_platform.online.keys import entity_key_values, is_copy, primary_key
from feature_platform.online.results import MAX_CLEANUP_EXAMPLES, CleanupResult
from feature_platform.online.scripts import delete_if_event_calls
from feature_platform.online.store import EntityRecord
from feature_platform.online.store_core import READ_FIELDS, RedisStoreCore
from feature_platform.rows.timestamps import epoch_micros, from_micros, utc_now_micros
from feature_platform.specs import FeatureView

logger = logging.getLogger(__name__)


class StoreCleanup(RedisStoreCore):
    """:meth:`iter_entities`, :meth:`delete_entities` and :meth:`cleanup`."""

    def iter_entities(
        self, view: FeatureView, *, include_expired: bool = False, now: datetime | None = None
    ) -> Iterator[EntityRecord]:
        """Every stored entity of ``view``: (join keys, event ts, created ts, values)."""
        now_micros = utc_now_micros() if now is None else epoch_micros(now)
        oldest = _oldest_alive(view, now_micros)
        layout = self.view_keys(view)
        doing = f"reading {view.name!r}"
        for keys in self.transport.scan(layout.pattern, f"scanning feature view {view.name!r}"):
            replies = self.transport.read_hashes(keys, READ_FIELDS, doing)
            for key, (event, created, blob) in zip(keys, replies, strict=True):
                if event is None or (not include_expired and int(event) < oldest) or is_copy(key):
                    continue
                yield (
                    layout.join_keys(key, view.join_keys),
                    from_micros(int(event)),
                    from_micros(int(created)),
                    decode_values(blob),
                )

    def delete_entities(self, view: FeatureView, keys: Iterable[Mapping[str, object]]) -> int:
        """Delete entities of ``view`` by join keys; returns how many existed."""
        layout, spread = self._write_layout(view)
        primaries = [layout.key(entity_key_values(k, view, "the keys to delete")) for k in keys]
        copies = [copy for key in primaries if key in spread for copy in spread.keys_of(key)[1:]]
        if copies:
            self.transport.execute([("DEL", copy) for copy in copies], f"deleting from {view.name!r}")
        redis_keys = primaries
        deleted = 0
        for start in range(0, len(redis_keys), self.batch_size):
            batch = redis_keys[start : start + self.batch_size]
            # One DEL per key: on a Redis Cluster the keys of one command must share a slot.
            replies = self.transport.execute([("DEL", key) for key in batch], f"deleting from {view.name!r}")
            deleted += sum(replies)
        if self.cache is not None:
            self.cache.invalidate(redis_keys)
        if self.l2 is not None:
            self.l2.invalidate(redis_keys)
        return int(deleted)

    def cleanup(
        self,
        view: FeatureView,
        now: datetime | None = None,
        existing_keys: Iterable[Mapping[str, object]] | None = None,
    ) -> CleanupResult:
        """Remove ``view``'s expired values and, given ``existing_keys``, entities not in it.

        A value is only removed if it is still the one the scan saw (DELETE_IF_EVENT), so
        a concurrent newer write survives.
        """
        now_micros = utc_now_micros() if now is None else epoch_micros(now)
        oldest = _oldest_alive(view, now_micros)
        layout = self.view_keys(view)
        existing: set[bytes] | None = None
        if existing_keys is not None:
            existing = {
                layout.key(entity_key_values(k, view, "existing_keys")) for k in existing_keys
            }
        scanned = removed_expired = removed_gone = 0
        examples: list[Mapping[str, object]] = []
        for keys in self.transport.scan(layout.pattern, f"scanning feature view {view.name!r}"):
            events = self.transport.read_hashes(keys, (b"e",), f"reading {view.name!r}")
            doomed: list[tuple[bytes, bytes]] = []
            kinds: list[bool] = []
            for key, (event,) in zip(keys, events, strict=True):
                if event is None:
                    continue
                copy = is_copy(key)  # a spread key's copy goes with its key, uncounted
                scanned += not copy
                expired = int(event) < oldest
                if expired or (existing is not None and (primary_key(key) if copy else key) not in existing):
                    doomed.append((key, event))
                    kinds.append(expired)
            if not doomed:
                continue
            deleted = self._delete_if_unchanged(doomed, view)
            for (key, _), expired, gone in zip(doomed, kinds, deleted, strict=True):
                if not gone or is_copy(key):
                    continue
                if expired:
                    removed_expired += 1
                else:
                    removed_gone += 1
                if len(examples) < MAX_CLEANUP_EXAMPLES:
                    examples.append(layout.join_keys(key, view.join_keys))
        if self.cache is not None:
            self.cache.clear()
        result = CleanupResult(view.name, scanned, removed_expired, removed_gone, tuple(examples))
        logger.info("online cleanup %s/%s: %s", self.tenant, view.name, result)
        return result

    def _delete_if_unchanged(
        self, doomed: list[tuple[bytes, bytes]], view: FeatureView
    ) -> list[bool]:
        """Per key whether it was deleted (one script call per key keeps the answer exact)."""
        replies = self.transport.execute(delete_if_event_calls(doomed), f"cleaning up {view.name!r}")
        return [bool(r) for r in replies]



def _oldest_alive(view: FeatureView, now_micros: int) -> int | float:
    """The smallest event time (µs) still within ``view``'s ttl at ``now``."""
    if view.ttl is None:
        return -math.inf
    return now_micros - view.ttl // timedelta(microseconds=1)
