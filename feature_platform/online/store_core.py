"""The core of the Redis online store: its settings, pools, key layouts and markers.

:class:`RedisStoreCore` holds what every operation of
:class:`~feature_platform.online.redis_store.RedisOnlineStore` needs (the tenant's
transport, the caches, the spread hot keys, the view key layouts); the operations live in
:mod:`.store_reads`, :mod:`.store_writes`, :mod:`.store_spreading` and
:mod:`.store_cleanup`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from feature_platform.errors import ConfigError
from feature_platform.online.cache import L1Cache
from feature_platform.online.cluster_transport import ClusterTransport
from feature_platform.online.connection import RedisEndpoint, redact_url
from feature_platform.online.generations import DEFAULT_REFRESH_S, GenerationTable, parse_generation
from feature_platform.online.hotspots import ShardLoad, shard_loads
from feature_platform.online.keys import ViewKeys, generation_key, hot_registry_key
from feature_platform.online.l2_cache import L2Cache
from feature_platform.online.results import PublishMarker
from feature_platform.online.spreading import SpreadTable
from feature_platform.online.store import OnlineStore
from feature_platform.online.tenancy import TenantRouting
from feature_platform.online.transport import RedisTransport, TenantPools, pool_options
from feature_platform.specs import FeatureView
from feature_platform.specs._validation import check_identifier

if TYPE_CHECKING:
    from feature_platform.streaming.push import TenantLogs

READ_FIELDS = (b"e", b"c", b"v")
"""The fields of a stored value: event time, created time, values."""
READ_TIMEOUT_S = 0.25
READ_CONNECT_TIMEOUT_S = 0.1
"""Online reads' default timeouts (``read``, ``ping``): a serving read fails within about
``READ_TIMEOUT_S`` when Redis hangs (not retried); batch traffic keeps ``socket_timeout``."""


class RedisStoreCore(OnlineStore):
    """What the Redis online store's operations share (layout and rules:
    :mod:`feature_platform.online.redis_store`).

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
    replica of the key's slot (:data:`~feature_platform.online.store_reads.REPLICA_TIERS`).
    ``read_timeout`` and ``read_connect_timeout`` bound :meth:`read` and :meth:`ping` (their
    own pool, a timeout not retried); ``socket_timeout`` and ``socket_connect_timeout``
    everything else (writes, scans, cleanup; retried once). ``spread_refresh_s``: how often a
    reader reloads which hot keys are spread (:meth:`spread`). ``l2``: an optional shared
    cache in another Redis, between ``cache`` (L1) and the store (:class:`L2Cache`).
    ``generation_refresh_s``: how long a reader trusts the served generation of a view it
    last read before asking Redis again (:mod:`feature_platform.online.generations`; 0:
    ask on every read).
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
        read_timeout: float = READ_TIMEOUT_S,
        read_connect_timeout: float = READ_CONNECT_TIMEOUT_S,
        replica_reads: bool = False,
        spread_refresh_s: float = 5.0,
        l2: L2Cache | None = None,
        generation_refresh_s: float = DEFAULT_REFRESH_S,
        _pools: TenantPools | None = None,
        _siblings: dict[str, RedisStoreCore] | None = None,
        _pinned: Mapping[str, int] | None = None,
    ) -> None:
        check_identifier(tenant, "Tenant")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if script_keys < 1:
            raise ConfigError(f"script_keys must be >= 1, got {script_keys}")
        if write_rate_limit is not None and write_rate_limit <= 0:
            raise ConfigError(f"write_rate_limit must be > 0 rows/s or None, got {write_rate_limit}")
        if generation_refresh_s < 0:
            raise ConfigError(f"generation_refresh_s must be >= 0 seconds, got {generation_refresh_s}")
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
            "generation_refresh_s": generation_refresh_s,
        }
        self._pools = _pools or TenantPools(
            pool_options(max_connections, socket_timeout, socket_connect_timeout, "Batch (socket_timeout)"),
            pool_options(max_connections, read_timeout, read_connect_timeout, "Online read (read_timeout)"),
        )
        self._siblings = {} if _siblings is None else _siblings
        self._siblings.setdefault(tenant, self)
        self.transport = self._pools.transport(tenant, self.routing.url_for(tenant, url))
        self.reader = self._pools.transport(tenant, self.routing.url_for(tenant, url), reads=True)
        self.endpoint = self.transport.endpoint
        if replica_reads and not self.transport.single_slot_calls:
            raise ConfigError(
                f"replica_reads needs a Redis Cluster (a redis+cluster:// URL); tenant "
                f"{tenant!r} is on the single Redis at {self.endpoint.where}"
            )
        self.replica_reads = replica_reads
        self._hot_registry = hot_registry_key(tenant)
        self._spread = SpreadTable(spread_refresh_s)
        self._view_keys: dict[tuple[str, int], ViewKeys] = {}
        self._generations = GenerationTable(generation_refresh_s)
        self._generation_keys: dict[str, bytes] = {}
        self._pinned = dict(_pinned or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self.endpoint.url)!r}, tenant={self.tenant!r})"

    def served_tenants(self) -> frozenset[str]:
        """This store's tenant and every tenant of its routing."""
        return frozenset({self.tenant, *self.routing.tenants})

    def event_logs(self) -> TenantLogs:
        """Per-tenant event logs on this store's Redis (and its tenants' routed ones)."""
        from feature_platform.streaming.push import TenantLogs

        return TenantLogs(self.url, self.routing)

    def view_keys(self, view: FeatureView, generation: int | None = None) -> ViewKeys:
        """The key layout of ``view``'s entities for this store's tenant, in ``generation``
        (default: the generation served now, asked from Redis)."""
        if generation is None:
            generation = self.generation(view)
        keys = self._view_keys.get((view.name, generation))
        if keys is None:
            keys = self._view_keys[(view.name, generation)] = ViewKeys(self.tenant, view.name, generation)
        return keys

    def prefix(self, view: FeatureView) -> bytes:
        """``fs:{tenant}:{view}:``, the key prefix of the served generation of ``view``'s entities."""
        return self.view_keys(view).prefix

    def generation(self, view: FeatureView) -> int:
        """The generation of ``view`` this store reads and writes: the one Redis serves
        now (one round trip), or the one this store is pinned to (:meth:`pinned`)."""
        pinned = self._pinned.get(view.name)
        if pinned is not None:
            return pinned
        (reply,) = self.transport.execute(
            [("HGET", self._generation_key(view.name), "cur")], f"reading the served generation of {view.name!r}"
        )
        generation = parse_generation(reply)
        self._generations.set(view.name, generation)
        return generation

    def _served_generation(self, view: FeatureView) -> tuple[int, bool]:
        """A read's ``(generation, fresh)`` of ``view``: from the cache, fresh if younger
        than ``generation_refresh_s`` (a pinned store's is always fresh)."""
        pinned = self._pinned.get(view.name)
        if pinned is not None:
            return pinned, True
        return self._generations.get(view.name)

    def _generation_key(self, view_name: str) -> bytes:
        key = self._generation_keys.get(view_name)
        if key is None:
            key = self._generation_keys[view_name] = generation_key(self.tenant, view_name)
        return key

    def ping(self) -> None:
        """Raise OnlineStoreUnavailableError if Redis does not answer within the read timeout."""
        self.reader.ping()

    def shard_loads(self) -> list[ShardLoad]:
        """Each master's ops/s right now (one shard for a single Redis)."""
        return shard_loads(self.transport.node_stats())

    def close(self) -> None:
        """Disconnect every pool (shared with the stores of :meth:`for_tenant`)."""
        self._pools.disconnect()

    def _write_layout(self, view: FeatureView) -> tuple[ViewKeys, SpreadTable]:
        """A write's key layout (the generation served now) and the spread hot keys,
        reloaded: one round trip for both."""
        pinned = self._pinned.get(view.name)
        commands: list[tuple[object, ...]] = [("HGETALL", self._hot_registry)]
        if pinned is None:
            commands.append(("HGET", self._generation_key(view.name), "cur"))
        replies = self.transport.execute(commands, f"reading the spread hot keys and the generation of {view.name!r}")
        self._spread.load(replies[0])
        if pinned is not None:
            return self.view_keys(view, pinned), self._spread
        generation = parse_generation(replies[1])
        self._generations.set(view.name, generation)
        return self.view_keys(view, generation), self._spread

    def _spread_table(self, force: bool = False, via: RedisTransport | ClusterTransport | None = None) -> SpreadTable:
        """The spread hot keys, reloaded from Redis (``via`` a transport, default the batch
        one) when ``force``d or older than its refresh."""
        table = self._spread
        if force or table.due():
            transport = via or self.transport
            table.load(transport.execute([("HGETALL", self._hot_registry)], "reading the spread hot keys")[0])
        return table

    # -- publish markers -----------------------------------------------------------------

    def write_marker(self, view: FeatureView, marker: PublishMarker) -> None:
        """Replace ``view``'s publish marker (one hash, no expiry; one HSET of every field,
        so it is atomic on a single node and on a cluster alike)."""
        self.transport.execute(
            [("HSET", self.view_keys(view, 0).marker, b"run", marker.run_id, b"entities", marker.entities,
              b"at", marker.written_at)],
            f"writing the publish marker of {view.name!r}",
        )

    def read_marker(self, view: FeatureView) -> PublishMarker | None:
        """``view``'s publish marker, or None when Redis has none."""
        (reply,) = self.transport.execute(
            [("HGETALL", self.view_keys(view, 0).marker)], f"reading the publish marker of {view.name!r}"
        )
        if not reply:
            return None
        pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
        fields = {bytes(k): bytes(v) for k, v in pairs}
        return PublishMarker(fields[b"run"].decode(), int(fields[b"entities"]), fields[b"at"].decode())

