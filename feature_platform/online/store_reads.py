"""Reads of the Redis online store: one pipelined round trip for every (view, entity).

A read looks in the L1 cache, then the L2 cache, then Redis (``HMGET e c v`` per key; a
spread hot key from a random copy), and decides EXPIRED from ``e`` at read time. Windowed
aggregations of stream views are computed at read time from their tiles and edge events. Reads go
through the store's read transport (short timeouts, a timeout not retried); when Redis is
unavailable, L1 may answer alone (:func:`~feature_platform.online.cache.answer_from_l1`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from feature_platform.errors import MissingColumnError, OnlineStoreUnavailableError, SchemaError
from feature_platform.online.cache import MISSING, answer_from_l1
from feature_platform.online.codec import decode_values
from feature_platform.online.keys import check_key_value
from feature_platform.online.response import OnlineResponse, StoredRow
from feature_platform.online.store_core import READ_FIELDS, RedisStoreCore
from feature_platform.rows.timestamps import epoch_micros, utc_now_micros
from feature_platform.specs import FreshnessTier, ValueType, ViewRequest
from feature_platform.streaming.tiles import aggregate_row, edge_ranges, split_aggregate_requests

REPLICA_TIERS = frozenset({FreshnessTier.BATCH, FreshnessTier.STATIC})
"""Tiers whose reads may be answered by a replica (``replica_reads``): they accept the
replica's lag (milliseconds, seconds in a bad moment); REAL_TIME and NEAR_REAL_TIME never."""


class StoreReads(RedisStoreCore):
    """:meth:`read` of the Redis online store."""

    def read(
        self,
        requests: Sequence[ViewRequest],
        entity_rows: Sequence[Mapping[str, object]],
        *,
        now: datetime | None = None,
        full_feature_names: bool = False,
    ) -> OnlineResponse:
        """Features of ``requests`` for ``entity_rows``: one pipelined round trip for all."""
        now_micros = utc_now_micros() if now is None else epoch_micros(now)
        # Windowed aggregations of stream views are computed now from their tiles and edge events.
        requests, aggregates = split_aggregate_requests(requests)
        join_keys, key_rows, request_keys = self._request_keys(requests, entity_rows)
        records: list[list[StoredRow | None]] = []
        pending: list[tuple[int, int, bytes]] = []
        tile_reads: list[tuple[int, int, bytes, bytes, list[tuple[int, int]]]] = []
        cache = self.cache
        for index, (request, keys) in enumerate(zip(requests, request_keys, strict=True)):
            if aggregates[index]:
                layout = self.view_keys(request.view)
                ranges = edge_ranges(request.view, request.features, now_micros)
                tile_reads.extend(
                    (index, position, tiles_key, events_key, ranges)
                    for position, (tiles_key, events_key) in enumerate(
                        zip(layout.tiles_of(keys), layout.events_of(keys), strict=True)
                    )
                )
                records.append([None] * len(keys))
                continue
            if cache is not None:
                cache.hot_keys.record(keys)
            if cache is not None and cache.enabled_for(request.view.tier):
                cached = cache.get_many(keys, request.view.tier)
                row_records: list[Any] = cached
                for position, hit in enumerate(cached):
                    if hit is MISSING:
                        pending.append((index, position, keys[position]))
            else:
                row_records = [None] * len(keys)
                pending.extend((index, position, key) for position, key in enumerate(keys))
            records.append(row_records)
        if pending:
            try:
                replies = self._fetch(requests, pending)
            except OnlineStoreUnavailableError as exc:
                if cache is None:
                    raise
                return answer_from_l1(cache, exc, requests, request_keys, aggregates, join_keys, key_rows,
                                      now_micros, full_feature_names)
            fresh: list[tuple[bytes, StoredRow | None]] = []
            for (index, position, key), (event, created, blob) in zip(pending, replies, strict=True):
                record = None if event is None else (int(event), int(created), decode_values(blob))
                records[index][position] = record
                if cache is not None and cache.enabled_for(requests[index].view.tier):
                    fresh.append((key, record))
            if fresh and cache is not None:
                cache.put_many(fresh)
        if tile_reads:
            # A second round trip, only when windowed aggregations are asked for: each entity's
            # tiles and the kept events at its windows' edges.
            commands: list[tuple[object, ...]] = []
            for _, _, tiles_key, events_key, ranges in tile_reads:
                commands.append((b"HGETALL", tiles_key))
                commands.extend((b"ZRANGE", events_key, lo, hi, b"BYSCORE") for lo, hi in ranges)
            aggregate_replies = self.reader.execute(commands, "reading aggregates")
            at = 0
            for index, position, _, _, ranges in tile_reads:
                request = requests[index]
                tiles_reply, event_replies = aggregate_replies[at], aggregate_replies[at + 1 : at + 1 + len(ranges)]
                at += 1 + len(ranges)
                records[index][position] = aggregate_row(
                    request.view, request.features, tiles_reply, event_replies, now_micros
                )
        return OnlineResponse(
            join_keys, key_rows, requests, records, now_micros, full_feature_names=full_feature_names
        )

    def _fetch(self, requests: Sequence[ViewRequest], pending: list[tuple[int, int, bytes]]) -> list[Any]:
        """``HMGET e c v`` replies of the ``(request index, row, key)`` items not in L1: from
        the L2 cache where it has them, else from the store (then cached in L2)."""
        replies: list[Any] = [None] * len(pending)
        todo = list(range(len(pending)))
        l2 = self.l2
        if l2 is not None:
            tiers = [requests[index].view.tier for index, _, _ in pending]
            cacheable = [i for i in todo if l2.enabled_for(tiers[i])]
            if cacheable:
                hits = l2.get_many([pending[i][2] for i in cacheable])
                for i, hit in zip(cacheable, hits, strict=True):
                    replies[i] = hit
                todo = [i for i in todo if replies[i] is None or replies[i] is MISSING]
        if todo:
            replica_ok = None
            if self.replica_reads:
                allowed = [request.view.tier in REPLICA_TIERS for request in requests]
                replica_ok = [allowed[pending[i][0]] for i in todo]
            fetched = self._read_spread([pending[i][2] for i in todo], replica_ok)
            for i, reply in zip(todo, fetched, strict=True):
                replies[i] = reply
            if l2 is not None:
                l2.put_many(
                    (pending[i][2], tiers[i], reply)
                    for i, reply in zip(todo, fetched, strict=True)
                    if l2.enabled_for(tiers[i])
                )
        return replies

    def _read_spread(self, keys: list[bytes], replica_ok: list[bool] | None) -> list[Any]:
        """``HMGET e c v`` of ``keys``, each spread hot key read from a random copy; a copy
        found empty is read again from the key itself (a second round trip, rarely)."""
        reader = self.reader
        spread = self._spread_table(via=reader)
        if not spread:
            return reader.read_hashes(keys, READ_FIELDS, "reading features", replica_ok)
        targets = [spread.pick(key) if key in spread else key for key in keys]
        replies = reader.read_hashes(targets, READ_FIELDS, "reading features", replica_ok)
        again = [i for i, (key, target) in enumerate(zip(keys, targets, strict=True))
                 if target is not key and replies[i][0] is None]
        if again:
            retry = reader.read_hashes([keys[i] for i in again], READ_FIELDS, "reading features")
            for i, reply in zip(again, retry, strict=True):
                replies[i] = reply
        return replies

    def _request_keys(
        self, requests: Sequence[ViewRequest], entity_rows: Sequence[Mapping[str, object]]
    ) -> tuple[list[str], list[tuple[object, ...]], list[list[bytes]]]:
        """Join-key names, checked key values per row, and the Redis keys per request."""
        join_keys: dict[str, ValueType] = {}
        for request in requests:
            for name, dtype in request.view.join_key_types.items():
                known = join_keys.setdefault(name, dtype)
                if known is not dtype:
                    raise SchemaError(
                        f"Join key {name!r} is {known.value} in one requested view and "
                        f"{dtype.value} in {request.view.name!r}; request them separately"
                    )
        names = list(join_keys)
        checks = list(join_keys.items())
        key_rows: list[tuple[object, ...]] = []
        for row in entity_rows:
            try:
                key_rows.append(tuple(check_key_value(row[n], n, t) for n, t in checks))
            except KeyError:
                missing = next(n for n in names if n not in row)
                raise MissingColumnError(
                    missing, "the entity rows", f"every row needs join key {missing!r}"
                ) from None
        columns = list(zip(*key_rows, strict=True)) if key_rows else [() for _ in names]
        request_keys = [
            self.view_keys(request.view).keys([columns[names.index(k)] for k in request.view.join_keys])
            for request in requests
        ]
        return names, key_rows, request_keys
