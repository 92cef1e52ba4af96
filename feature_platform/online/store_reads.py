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
from feature_platform.online.generations import parse_generation
from feature_platform.online.keys import check_key_value
from feature_platform.online.response import OnlineResponse, StoredRow
from feature_platform.online.store_core import READ_FIELDS, RedisStoreCore
from feature_platform.rows.timestamps import epoch_micros, utc_now_micros
from feature_platform.specs import FreshnessTier, ValueType, ViewRequest
from feature_platform.streaming.tiles import aggregate_row, edge_ranges, split_aggregate_requests

_READ_ATTEMPTS = 3
"""Reads of one request when flips keep coming (each reads every view from one generation)."""
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
        """Features of ``requests`` for ``entity_rows``: one pipelined round trip for all.

        Each view is read from one generation (:mod:`feature_platform.online.generations`):
        the cached one, asked again in the same round trip when the cache is older than
        ``generation_refresh_s``; if Redis answers another, the read is done again."""
        now_micros = utc_now_micros() if now is None else epoch_micros(now)
        # Windowed aggregations of stream views are computed now from their tiles and edge events.
        requests, aggregates = split_aggregate_requests(requests)
        generations: list[int] = []
        stale: dict[str, int] = {}
        for request, aggregate in zip(requests, aggregates, strict=True):
            generation, fresh = (0, True) if aggregate else self._served_generation(request.view)
            generations.append(generation)
            if not fresh:
                stale[request.view.name] = generation
        for _ in range(_READ_ATTEMPTS):
            join_keys, key_rows, request_keys = self._request_keys(requests, entity_rows, generations)
            records, served, outage = self._read_values(requests, aggregates, request_keys, list(stale), now_micros)
            if outage is not None and self.cache is not None:
                return answer_from_l1(self.cache, outage, requests, request_keys, aggregates, join_keys, key_rows,
                                      now_micros, full_feature_names)
            moved = {name for name, generation in served.items() if generation != stale[name]}
            if not moved:
                break
            # A flip since this process last looked: read those views again, wholly from
            # the generation now served (the others' values are as good as before).
            generations = [
                served[r.view.name] if r.view.name in moved else g for r, g in zip(requests, generations, strict=True)
            ]
            stale = {name: served[name] for name in moved} if self._generations.refresh_s <= 0 else {}
        return OnlineResponse(
            join_keys, key_rows, requests, records, now_micros, full_feature_names=full_feature_names
        )

    def _read_values(
        self,
        requests: Sequence[ViewRequest],
        aggregates: Sequence[bool],
        request_keys: list[list[bytes]],
        check: list[str],
        now_micros: int,
    ) -> tuple[list[list[StoredRow | None]], dict[str, int], OnlineStoreUnavailableError | None]:
        """The stored rows of every request's keys (L1, then L2, then Redis), the served
        generation of the ``check``ed views, asked in the same round trip, and the error
        when Redis could not be reached but an L1 cache can answer instead."""
        records: list[list[StoredRow | None]] = []
        pending: list[tuple[int, int, bytes]] = []
        tile_reads: list[tuple[int, int, bytes, bytes, list[tuple[int, int]]]] = []
        cache = self.cache
        for index, (request, keys) in enumerate(zip(requests, request_keys, strict=True)):
            if aggregates[index]:
                layout = self.view_keys(request.view, 0)
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
        served: dict[str, int] = {}
        if pending or check:
            try:
                replies, pointers = self._fetch(requests, pending, [self._generation_key(name) for name in check])
            except OnlineStoreUnavailableError as exc:
                if cache is None:
                    raise
                return records, served, exc
            for name, reply in zip(check, pointers, strict=True):
                served[name] = parse_generation(reply)
                self._generations.set(name, served[name])
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
        return records, served, None

    def _fetch(
        self, requests: Sequence[ViewRequest], pending: list[tuple[int, int, bytes]], pointers: list[bytes]
    ) -> tuple[list[Any], list[Any]]:
        """``HMGET e c v`` replies of the ``(request index, row, key)`` items not in L1: from
        the L2 cache where it has them, else from the store (then cached in L2); and the
        ``HGET cur`` replies of the generation hashes ``pointers``, in the same round trip."""
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
        pointer_replies: list[Any] = []
        if todo or pointers:
            replica_ok = None
            if self.replica_reads:
                allowed = [request.view.tier in REPLICA_TIERS for request in requests]
                replica_ok = [allowed[pending[i][0]] for i in todo]
            fetched, pointer_replies = self._read_spread([pending[i][2] for i in todo], replica_ok, pointers)
            for i, reply in zip(todo, fetched, strict=True):
                replies[i] = reply
            if l2 is not None:
                l2.put_many(
                    (pending[i][2], tiers[i], reply)
                    for i, reply in zip(todo, fetched, strict=True)
                    if l2.enabled_for(tiers[i])
                )
        return replies, pointer_replies

    def _read_spread(
        self, keys: list[bytes], replica_ok: list[bool] | None, pointers: list[bytes]
    ) -> tuple[list[Any], list[Any]]:
        """``HMGET e c v`` of ``keys``, each spread hot key read from a random copy, and
        ``HGET cur`` of the generation hashes ``pointers``, in one round trip; a copy found
        empty is read again from the key itself (a second round trip, rarely)."""
        reader = self.reader
        spread = self._spread_table(via=reader)
        extra = [(b"HGET", pointer, b"cur") for pointer in pointers]
        targets = [spread.pick(key) if key in spread else key for key in keys] if spread else keys
        both = reader.read_hashes(targets, READ_FIELDS, "reading features", replica_ok, extra)
        replies, pointer_replies = both[: len(keys)], both[len(keys) :]
        if not spread:
            return replies, pointer_replies
        again = [i for i, (key, target) in enumerate(zip(keys, targets, strict=True))
                 if target is not key and replies[i][0] is None]
        if again:
            retry = reader.read_hashes([keys[i] for i in again], READ_FIELDS, "reading features")
            for i, reply in zip(again, retry, strict=True):
                replies[i] = reply
        return replies, pointer_replies

    def _request_keys(
        self, requests: Sequence[ViewRequest], entity_rows: Sequence[Mapping[str, object]], generations: list[int]
    ) -> tuple[list[str], list[tuple[object, ...]], list[list[bytes]]]:
        """Join-key names, checked key values per row, and the Redis keys per request (of
        the request's generation)."""
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
            self.view_keys(request.view, generation).keys([columns[names.index(k)] for k in request.view.join_keys])
            for request, generation in zip(requests, generations, strict=True)
        ]
        return names, key_rows, request_keys
