"""The Redis online store: its operations (read, write, scan, delete, cleanup).

Keys are built and parsed by :mod:`feature_platform.online.keys` only, round trips go
through :mod:`feature_platform.online.transport`. One hash per entity,
``fs:<tenant>:<view>:{<bucket>}<entity>``, with three fields:

* ``e``: event timestamp, integer microseconds since the Unix epoch (UTC);
* ``c``: created timestamp, same unit;
* ``v``: the feature values, one msgpack map (see :mod:`feature_platform.online.codec`),
  zlib-compressed above 1 KB.

Writes go through the ``WRITE_IF_NEWER`` Lua script (:mod:`feature_platform.online.scripts`):
atomic compare-and-set on ``(e, c)``, ``PEXPIREAT`` at ``event_timestamp + ttl``, many keys
per ``EVALSHA``, several ``EVALSHA`` per pipelined round trip (``batch_size`` rows), with an
optional rows/s limit so a backfill leaves room for reads. Keys expire (Redis) at
``event_timestamp + ttl + expiry_grace`` (60 s by default, for clock skew). A read
sends one ``HMGET e c v`` per (view, entity) in ONE pipelined round trip and decides EXPIRED from ``e`` at read time,
so the ttl boundary is exact whatever Redis's lazy expiry does.

On a Redis Cluster the same operations run through the cluster transport: a write sorts its
rows by hash-tag bucket so each script call's keys share a slot, and a round trip becomes one
pipelined round trip per node involved, in parallel.

Recommended ``maxmemory-policy``: ``volatile-ttl`` when every view has a ttl (under memory
pressure Redis drops the values closest to expiring, never a value without ttl), or
``allkeys-lru`` as the backup of the seed when some views have no ttl. Never
``noeviction`` for a store that backfills: writes would fail when memory is full. A read
of an evicted value answers NOT_FOUND; the daily cleanup and the next materialization put
it back (``feature_platform_tests/online/test_eviction.py``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from feature_platform.errors import ConfigError, MissingColumnError, SchemaError
from feature_platform.online.cache import MISSING, L1Cache
from feature_platform.online.codec import decode_values, encode_values
from feature_platform.online.connection import RedisEndpoint, redact_url
from feature_platform.online.hotspots import ShardLoad, shard_loads
from feature_platform.online.keys import (
    ViewKeys,
    check_key_value,
    copy_key,
    entity_key_values,
    hot_registry_key,
    is_copy,
    primary_key,
)
from feature_platform.online.l2_cache import L2Cache
from feature_platform.online.latest import latest_per_entity
from feature_platform.online.response import OnlineResponse, StoredRow
from feature_platform.online.results import (
    MAX_CLEANUP_EXAMPLES,
    CleanupResult,
    MergeResult,
    ProgressCallback,
    PublishMarker,
    PublishProgress,
    WriteResult,
)
from feature_platform.online.scripts import (
    delete_if_event_calls,
    merge_if_unchanged_calls,
    write_if_newer_calls,
)
from feature_platform.online.spreading import SpreadTable, encode_copies
from feature_platform.online.store import EntityRecord, OnlineStore
from feature_platform.online.tenancy import TenantRouting
from feature_platform.online.transport import TenantPools
from feature_platform.rows.conversion import view_table
from feature_platform.rows.timestamps import epoch_micros, from_micros, utc_now_micros
from feature_platform.specs import FeatureView, FreshnessTier, ValueType, ViewRequest
from feature_platform.specs._validation import check_identifier
from feature_platform.streaming.tiles import aggregate_row, split_aggregate_requests

if TYPE_CHECKING:
    import pandas as pd

    from feature_platform.streaming.push import TenantLogs

logger = logging.getLogger(__name__)

_READ_FIELDS = (b"e", b"c", b"v")
REPLICA_TIERS = frozenset({FreshnessTier.BATCH, FreshnessTier.STATIC})
"""Tiers whose reads may be answered by a replica (``replica_reads``): they accept the
replica's lag (milliseconds, seconds in a bad moment); REAL_TIME and NEAR_REAL_TIME never."""


class RedisOnlineStore(OnlineStore):
    """The online store on Redis (see the module docstring for layout and rules).

    ``url``: ``redis://[user:password@]host:port/db``, ``rediss://`` for TLS, or
    ``unix://``. ``tenant`` namespaces keys; ``tenants`` routes tenants to another database
    or Redis (:class:`TenantRouting`). ``batch_size``: rows per pipelined write round trip;
    ``script_keys``: keys per ``EVALSHA`` (bounds how long one script blocks Redis);
    ``write_rate_limit``: max rows/s written (None: unlimited). ``cache``: optional L1.
    ``expiry_grace``: how long after ``event_timestamp + ttl`` Redis drops a key (reads
    report EXPIRED from the exact bound on; the grace only absorbs clock skew).

    ``redis+cluster://host:port`` (any node; ``rediss+cluster://`` for TLS) selects a Redis
    Cluster (:mod:`feature_platform.online.cluster_transport`); everything else is the same.
    ``replica_reads`` (cluster only): reads of BATCH and STATIC views may be answered by a
    replica of the key's slot (:data:`REPLICA_TIERS`). ``spread_refresh_s``: how often a
    reader reloads which hot keys are spread (:meth:`spread`). ``l2``: an optional shared
    cache in another Redis, between ``cache`` (L1) and the store (:class:`L2Cache`).
    """

    def __init__(
        self,
        url: str,
        tenant: str = "default",
        *,
        batch_size: int = 1000,
        write_rate_limit: float | None = None,
        cache: L1Cache | None = None,
        tenants: TenantRouting | None = None,
        script_keys: int = 100,
        expiry_grace: timedelta = timedelta(seconds=60),
        max_connections: int = 64,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 2.0,
        replica_reads: bool = False,
        spread_refresh_s: float = 5.0,
        l2: L2Cache | None = None,
        _pools: TenantPools | None = None,
        _siblings: dict[str, RedisOnlineStore] | None = None,
    ) -> None:
        check_identifier(tenant, "Tenant")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if script_keys < 1:
            raise ConfigError(f"script_keys must be >= 1, got {script_keys}")
        if write_rate_limit is not None and write_rate_limit <= 0:
            raise ConfigError(f"write_rate_limit must be > 0 rows/s or None, got {write_rate_limit}")
        RedisEndpoint.parse(url)
        self.url = url
        self.tenant = tenant
        self.batch_size = batch_size
        self.script_keys = script_keys
        self.write_rate_limit = write_rate_limit
        self.cache = cache
        self.l2 = l2
        self._grace_micros = expiry_grace // timedelta(microseconds=1)
        self.routing = tenants or TenantRouting()
        self._settings = {
            "batch_size": batch_size,
            "write_rate_limit": write_rate_limit,
            "cache": cache,
            "tenants": self.routing,
            "script_keys": script_keys,
            "expiry_grace": expiry_grace,
            "replica_reads": replica_reads,
            "spread_refresh_s": spread_refresh_s,
            "l2": l2,
        }
        self._pools = _pools or TenantPools(
            {
                "max_connections": max_connections,
                "timeout": socket_timeout,
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": socket_connect_timeout,
            }
        )
        self._siblings = {} if _siblings is None else _siblings
        self._siblings.setdefault(tenant, self)
        self.transport = self._pools.transport(tenant, self.routing.url_for(tenant, url))
        self.endpoint = self.transport.endpoint
        if replica_reads and not self.transport.single_slot_calls:
            raise ConfigError(
                f"replica_reads needs a Redis Cluster (a redis+cluster:// URL); tenant "
                f"{tenant!r} is on the single Redis at {self.endpoint.where}"
            )
        self.replica_reads = replica_reads
        self._hot_registry = hot_registry_key(tenant)
        self._spread = SpreadTable(spread_refresh_s)
        self._view_keys: dict[str, ViewKeys] = {}

    def __repr__(self) -> str:
        return f"RedisOnlineStore({redact_url(self.endpoint.url)!r}, tenant={self.tenant!r})"

    def for_tenant(self, tenant: str) -> RedisOnlineStore:
        """The same store for ``tenant``: its own key prefix, routing target and pool."""
        if tenant == self.tenant:
            return self
        store = self._siblings.get(tenant)
        if store is None:
            store = RedisOnlineStore(
                self.url, tenant, _pools=self._pools, _siblings=self._siblings, **self._settings  # type: ignore[arg-type]
            )
        return store

    def served_tenants(self) -> frozenset[str]:
        """This store's tenant and every tenant of its routing."""
        return frozenset({self.tenant, *self.routing.tenants})

    def event_logs(self) -> TenantLogs:
        """Per-tenant event logs on this store's Redis (and its tenants' routed ones)."""
        from feature_platform.streaming.push import TenantLogs

        return TenantLogs(self.url, self.routing)

    def view_keys(self, view: FeatureView) -> ViewKeys:
        """The key layout of ``view``'s entities for this store's tenant."""
        keys = self._view_keys.get(view.name)
        if keys is None:
            keys = self._view_keys[view.name] = ViewKeys(self.tenant, view.name)
        return keys

    def prefix(self, view: FeatureView) -> bytes:
        """``fs:{tenant}:{view}:``, the key prefix of ``view``'s entities."""
        return self.view_keys(view).prefix

    def ping(self) -> None:
        """Raise OnlineStoreUnavailableError if Redis does not answer."""
        self.transport.ping()

    def shard_loads(self) -> list[ShardLoad]:
        """Each master's ops/s right now (one shard for a single Redis)."""
        return shard_loads(self.transport.node_stats())

    def close(self) -> None:
        """Disconnect every pool (shared with the stores of :meth:`for_tenant`)."""
        self._pools.disconnect()

    # -- reads ---------------------------------------------------------------------------

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
        # Windowed aggregations of stream views are read from their tiles and summed now.
        requests, aggregates = split_aggregate_requests(requests)
        join_keys, key_rows, request_keys = self._request_keys(requests, entity_rows)
        records: list[list[StoredRow | None]] = []
        pending: list[tuple[int, int, bytes]] = []
        tile_reads: list[tuple[int, int, bytes]] = []
        cache = self.cache
        for index, (request, keys) in enumerate(zip(requests, request_keys, strict=True)):
            if aggregates[index]:
                tiles = ViewKeys.tiles_of(keys, self.tenant, request.view.name)
                tile_reads.extend((index, position, key) for position, key in enumerate(tiles))
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
            replies = self._fetch(requests, pending)
            fresh: list[tuple[bytes, StoredRow | None]] = []
            for (index, position, key), (event, created, blob) in zip(pending, replies, strict=True):
                record = None if event is None else (int(event), int(created), decode_values(blob))
                records[index][position] = record
                if cache is not None and cache.enabled_for(requests[index].view.tier):
                    fresh.append((key, record))
            if fresh and cache is not None:
                cache.put_many(fresh)
        if tile_reads:
            # A second round trip, only when windowed aggregations are asked for.
            tile_replies = self.transport.execute([("HGETALL", key) for _, _, key in tile_reads], "reading aggregates")
            for (index, position, _), reply in zip(tile_reads, tile_replies, strict=True):
                request = requests[index]
                records[index][position] = aggregate_row(request.view, request.features, reply, now_micros)
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
        spread = self._spread_table()
        if not spread:
            return self.transport.read_hashes(keys, _READ_FIELDS, "reading features", replica_ok)
        targets = [spread.pick(key) if key in spread else key for key in keys]
        replies = self.transport.read_hashes(targets, _READ_FIELDS, "reading features", replica_ok)
        again = [i for i, (key, target) in enumerate(zip(keys, targets, strict=True))
                 if target is not key and replies[i][0] is None]
        if again:
            retry = self.transport.read_hashes([keys[i] for i in again], _READ_FIELDS, "reading features")
            for i, reply in zip(again, retry, strict=True):
                replies[i] = reply
        return replies

    def _spread_table(self, force: bool = False) -> SpreadTable:
        """The spread hot keys, reloaded from Redis when ``force``d or older than its refresh."""
        table = self._spread
        if force or table.due():
            table.load(self.transport.execute([("HGETALL", self._hot_registry)], "reading the spread hot keys")[0])
        return table

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

    # -- writes --------------------------------------------------------------------------

    def publish(
        self,
        view: FeatureView,
        rows: pa.Table | pd.DataFrame,
        *,
        now: datetime | None = None,
        progress: ProgressCallback | None = None,
    ) -> WriteResult:
        """Publish ``rows`` to ``view`` with compare-and-set (see the module docstring and
        :meth:`OnlineStore.publish`)."""
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
        keys = self.view_keys(view).keys([latest.column(k).to_pylist() for k in view.join_keys])
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
        spread = self._spread_table(force=True)
        written, unchanged = self._write_rows(view, keys, event_list, created, expire_at, blobs, report)
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
        keys = self.view_keys(view).keys([arrow.column(k).to_pylist() for k in view.join_keys])
        events = arrow.column("event_timestamp").cast(pa.int64()).to_pylist()
        created = arrow.column("created_timestamp").cast(pa.int64()).to_pylist()
        columns = {name: arrow.column(name).to_pylist() for name in features}
        spread = self._spread_table(force=True)
        pending: list[tuple[bytes, bytes, bytes, bytes, bytes]] = []
        absent = other_pair = 0
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start : start + self.batch_size]
            stored_rows = self.transport.read_hashes(batch, _READ_FIELDS, f"reading {view.name!r} to merge features")
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
    ) -> tuple[int, int]:
        """Compare-and-set every row: (keys changed, keys already identical)."""
        if not self.transport.single_slot_calls:
            return self._write_batches(view, keys, events, created, expire_at, blobs, None, report)
        # A script call's keys must share a slot: rows of one bucket go together.
        tag = self.view_keys(view).tag
        tags = [tag(key) for key in keys]
        order = sorted(range(len(keys)), key=tags.__getitem__)
        return self._write_batches(
            view, [keys[i] for i in order], [events[i] for i in order], [created[i] for i in order],
            [expire_at[i] for i in order], [blobs[i] for i in order], [tags[i] for i in order], report,
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

    def spread(self, view: FeatureView, entities: Iterable[Mapping[str, object]], copies: int = 3) -> int:
        """Spread the keys of ``entities`` of ``view`` over ``copies`` keys (the key and
        ``copies - 1`` copies on other masters where there are any); returns how many keys
        are spread. Spreading a spread key again copies its current value again."""
        if copies < 2:
            raise ConfigError(f"copies must be >= 2 (the key and at least one copy), got {copies}")
        layout = self.view_keys(view)
        keys = [layout.key(entity_key_values(e, view, "the entities to spread")) for e in entities]
        if not keys:
            return 0
        doing = f"spreading hot keys of {view.name!r}"
        masters = self.transport.master_count()
        numbers = {key: self._copy_numbers(key, copies, masters) for key in keys}
        # Copy the current values first, register after: a reader never picks an unwritten copy.
        stored = self.transport.read_hashes(keys, _READ_FIELDS, doing)
        ttls = self.transport.execute([("PTTL", key) for key in keys], doing)
        now_ms = time.time_ns() // 1_000_000
        rows: list[tuple[bytes, int, int, object, bytes]] = []
        for key, (event, created, blob), ttl in zip(keys, stored, ttls, strict=True):
            if event is None or ttl == -2:
                continue
            expire: object = "" if ttl < 0 else now_ms + ttl
            rows += [(copy_key(key, n), int(event), int(created), expire, blob) for n in numbers[key]]
        if rows:
            self._write_rows(
                view, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                [r[3] for r in rows], [r[4] for r in rows],
            )
        self.transport.execute(
            [("HSET", self._hot_registry, key, encode_copies(numbers[key])) for key in keys], doing
        )
        self._spread_table(force=True)
        return len(keys)

    def unspread(self, view: FeatureView, entities: Iterable[Mapping[str, object]]) -> int:
        """Stop spreading the keys of ``entities`` of ``view`` and delete their copies."""
        layout = self.view_keys(view)
        keys = [layout.key(entity_key_values(e, view, "the entities to unspread")) for e in entities]
        spread = self._spread_table(force=True)
        doing = f"unspreading hot keys of {view.name!r}"
        removed = self.transport.execute([("HDEL", self._hot_registry, key) for key in keys], doing)
        copies = [copy for key in keys for copy in spread.keys_of(key)[1:]]
        if copies:
            self.transport.execute([("DEL", copy) for copy in copies], doing)
        self._spread_table(force=True)
        return int(sum(removed))

    def _copy_numbers(self, key: bytes, copies: int, masters: int) -> list[int]:
        """Copy numbers whose keys fall on masters the key and its other copies are not on,
        while there are such masters."""
        used = {self.transport.master_of(key)}
        chosen: list[int] = []
        number = 0
        while len(chosen) < copies - 1:
            number += 1
            owner = self.transport.master_of(copy_key(key, number))
            if owner not in used or len(used) >= masters or number > 10_000:
                chosen.append(number)
                used.add(owner)
        return chosen

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
    ) -> tuple[int, int]:
        """Run the compare-and-set calls in batches: (keys changed, keys already identical)."""
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
            if self.write_rate_limit is not None:
                ahead = batch_end / self.write_rate_limit - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if report is not None:
                report(batch_end, written, unchanged)
        return written, unchanged

    # -- publish markers -----------------------------------------------------------------

    def write_marker(self, view: FeatureView, marker: PublishMarker) -> None:
        """Replace ``view``'s publish marker (one hash, no expiry; one HSET of every field,
        so it is atomic on a single node and on a cluster alike)."""
        self.transport.execute(
            [("HSET", self.view_keys(view).marker, b"run", marker.run_id, b"entities", marker.entities,
              b"at", marker.written_at)],
            f"writing the publish marker of {view.name!r}",
        )

    def read_marker(self, view: FeatureView) -> PublishMarker | None:
        """``view``'s publish marker, or None when Redis has none."""
        (reply,) = self.transport.execute(
            [("HGETALL", self.view_keys(view).marker)], f"reading the publish marker of {view.name!r}"
        )
        if not reply:
            return None
        pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
        fields = {bytes(k): bytes(v) for k, v in pairs}
        return PublishMarker(fields[b"run"].decode(), int(fields[b"entities"]), fields[b"at"].decode())

    # -- scans, deletes, cleanup ---------------------------------------------------------

    def iter_entities(
        self, view: FeatureView, *, include_expired: bool = False, now: datetime | None = None
    ) -> Iterator[EntityRecord]:
        """Every stored entity of ``view``: (join keys, event ts, created ts, values)."""
        now_micros = utc_now_micros() if now is None else epoch_micros(now)
        oldest = _oldest_alive(view, now_micros)
        layout = self.view_keys(view)
        doing = f"reading {view.name!r}"
        for keys in self.transport.scan(layout.pattern, f"scanning feature view {view.name!r}"):
            replies = self.transport.read_hashes(keys, _READ_FIELDS, doing)
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
        layout = self.view_keys(view)
        primaries = [layout.key(entity_key_values(k, view, "the keys to delete")) for k in keys]
        spread = self._spread_table(force=True)
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


def _encode_rows(table: pa.Table, view: FeatureView) -> list[bytes]:
    """The stored value blob of every row."""
    names = view.feature_names
    columns = [table.column(n).to_pylist() for n in names]
    encode: Callable[[Mapping[str, object]], bytes] = encode_values
    return [encode(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]
