"""Talking to Redis: connection pools per tenant, pipelined round trips, script loading.

The store's operations (:mod:`feature_platform.online.redis_store`) build commands; a
:class:`RedisTransport` sends a batch of them in ONE pipelined round trip and returns the
raw replies in order, with redis-py errors translated (:mod:`.connection`). Hot paths hand
over :class:`PackedCommands`, already in the Redis protocol, which skips redis-py's packing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis

from feature_platform.online.cluster_transport import ClusterTransport
from feature_platform.online.connection import RedisEndpoint, translated_errors
from feature_platform.online.scripts import SCRIPTS

_SCAN_COUNT = 1000

Commands = Sequence[Sequence[object]]
"""Commands as argument tuples, e.g. ``("HMGET", key, "e")``."""


@dataclass(frozen=True, slots=True)
class PackedCommands:
    """Commands already in the Redis protocol, and how many replies they produce."""

    data: bytes
    count: int

    def __len__(self) -> int:
        return self.count


def pack_hmget(keys: Sequence[bytes], fields: tuple[bytes, ...]) -> PackedCommands:
    """One ``HMGET key *fields`` per key, packed by hiredis (the read hot path)."""
    pack = hiredis.pack_command
    return PackedCommands(
        b"".join([pack((b"HMGET", key, *fields)) for key in keys]),  # type: ignore[arg-type]  # hiredis stub types a 1-tuple
        len(keys),
    )


class RedisTransport:
    """Pipelined round trips to one Redis (one tenant's pool)."""

    single_slot_calls = False
    """Whether every script call's keys must share a slot (a Redis Cluster's rule)."""

    def __init__(self, endpoint: RedisEndpoint, pool: redis.BlockingConnectionPool) -> None:
        self.endpoint = endpoint
        self.pool = pool
        self.client = redis.Redis(connection_pool=pool)
        # Connections once taken from the pool stay on a free list of our own: redis-py's
        # check-out/check-in per call costs more than a loopback round trip.
        # list.pop/append are atomic, so threads share the list safely.
        self._idle: list[Any] = []

    def execute(self, commands: Commands | PackedCommands, doing: str) -> list[Any]:
        """Send ``commands`` in one pipelined round trip; the raw replies, in order.

        A dropped connection is retried once on a fresh one (reads are idempotent and so is
        the compare-and-set write); a Redis that lost the Lua scripts (restart, SCRIPT
        FLUSH) gets them loaded again; any other failure discards the connection.
        """
        with translated_errors(self.endpoint, doing):
            try:
                return self.round_trip(commands)
            except (redis.ConnectionError, redis.TimeoutError):
                return self.round_trip(commands)
            except redis.exceptions.NoScriptError:
                for source in SCRIPTS.values():
                    self.client.script_load(source)
                return self.round_trip(commands)

    def read_hashes(
        self, keys: Sequence[bytes], fields: tuple[bytes, ...], doing: str,
        replica_ok: Sequence[bool] | None = None,
    ) -> list[Any]:
        """``HMGET key *fields`` of every key in one round trip (one Redis has no replicas
        to offer: ``replica_ok`` is for the cluster transport)."""
        return self.execute(pack_hmget(keys, fields), doing)

    def round_trip(self, commands: Commands | PackedCommands) -> list[Any]:
        """One pipelined round trip, errors untranslated (see :meth:`execute`)."""
        idle = self._idle
        try:
            conn = idle.pop()
        except IndexError:
            conn = self.pool.get_connection()
        try:
            if isinstance(commands, PackedCommands):
                conn.send_packed_command([commands.data], check_health=False)
            else:
                conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            read = conn.read_response
            return [read() for _ in range(len(commands))]
        except BaseException:
            # Replies may be left unread on the socket: reconnect on the next use.
            conn.disconnect()
            raise
        finally:
            idle.append(conn)

    def scan(self, pattern: bytes, doing: str) -> Iterator[list[bytes]]:
        """Batches of the keys matching ``pattern`` (SCAN; tolerates concurrent writes)."""
        cursor = 0
        while True:
            with translated_errors(self.endpoint, doing):
                cursor, keys = self.client.scan(cursor, match=pattern, count=_SCAN_COUNT)
            if keys:
                yield cast(list[bytes], keys)
            if cursor == 0:
                return

    def ping(self) -> None:
        """Raise OnlineStoreUnavailableError if Redis does not answer."""
        with translated_errors(self.endpoint, "pinging"):
            self.client.ping()

    def master_of(self, key: bytes) -> str:
        """The node serving ``key`` (one Redis: always itself)."""
        return self.endpoint.where

    def master_count(self) -> int:
        """How many masters share the keys."""
        return 1

    def node_stats(self) -> dict[str, dict[str, Any]]:
        """``INFO stats`` of the one Redis, by ``host:port/db``."""
        with translated_errors(self.endpoint, "reading node stats"):
            return {self.endpoint.where: self.client.info("stats")}

    def disconnect(self) -> None:
        """Close the pool's connections."""
        self.pool.disconnect()


class TenantPools:
    """One connection pool (and transport) per tenant, shared by a store and its
    :meth:`~feature_platform.online.RedisOnlineStore.for_tenant` siblings."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = dict(options)
        self._transports: dict[str, RedisTransport | ClusterTransport] = {}
        self._lock = threading.Lock()

    def transport(self, tenant: str, url: str) -> RedisTransport | ClusterTransport:
        """The transport of ``tenant`` (created on first use, on ``url``): a
        :class:`ClusterTransport` for ``redis+cluster://`` URLs."""
        with self._lock:
            transport = self._transports.get(tenant)
            if transport is None:
                endpoint = RedisEndpoint.parse(url)
                if endpoint.is_cluster:
                    transport = ClusterTransport(endpoint, self._options)
                else:
                    pool = redis.BlockingConnectionPool.from_url(url, **self._options)
                    transport = RedisTransport(endpoint, pool)
                self._transports[tenant] = transport
            return transport

    def disconnect(self) -> None:
        """Close every pool's connections."""
        with self._lock:
            for transport in self._transports.values():
                transport.disconnect()
