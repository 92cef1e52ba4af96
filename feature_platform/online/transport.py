"""Talking to Redis: connection pools per tenant, pipelined round trips, script loading.

The store's operations (:mod:`feature_platform.online.redis_store`) build commands; a
:class:`RedisTransport` sends a batch of them in ONE pipelined round trip and returns the
raw replies in order, with redis-py errors translated (:mod:`.connection`). Hot paths hand
over :class:`PackedCommands`, already in the Redis protocol, which skips redis-py's packing.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis

from feature_platform.errors import ConfigError
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
    """Pipelined round trips to one Redis (one tenant's pool).

    ``retry_timeouts``: whether a round trip that timed out is sent once more (batch
    traffic); a serving read that timed out fails at once, so it never waits twice.
    """

    single_slot_calls = False
    """Whether every script call's keys must share a slot (a Redis Cluster's rule)."""

    def __init__(
        self, endpoint: RedisEndpoint, pool: redis.BlockingConnectionPool, *, retry_timeouts: bool = True
    ) -> None:
        self.endpoint = endpoint
        self.pool = pool
        self.retry_timeouts = retry_timeouts
        self.client = redis.Redis(connection_pool=pool)
        # Connections once taken from the pool stay on a free list of our own: redis-py's
        # check-out/check-in per call costs more than a loopback round trip.
        # list.pop/append are atomic, so threads share the list safely.
        self._idle: list[Any] = []

    def execute(self, commands: Commands | PackedCommands, doing: str) -> list[Any]:
        """Send ``commands`` in one pipelined round trip; the raw replies, in order.

        A dropped connection is retried once on a fresh one (reads are idempotent and so is
        the compare-and-set write), a timeout too unless ``retry_timeouts`` is off; a Redis
        that lost the Lua scripts (restart, SCRIPT FLUSH) gets them loaded again; any other
        failure discards the connection.
        """
        with translated_errors(self.endpoint, doing):
            try:
                return self.round_trip(commands)
            except redis.TimeoutError:
                if not self.retry_timeouts:
                    raise
                return self.round_trip(commands)
            except redis.ConnectionError:
                return self.round_trip(commands)
            except redis.exceptions.NoScriptError:
                self.load_scripts()
                return self.round_trip(commands)

    def load_scripts(self) -> None:
        """Load every Lua script into Redis (after a restart or SCRIPT FLUSH lost them)."""
        for source in SCRIPTS.values():
            self.client.script_load(source)

    def read_hashes(
        self, keys: Sequence[bytes], fields: tuple[bytes, ...], doing: str,
        replica_ok: Sequence[bool] | None = None, extra: Commands = (),
    ) -> list[Any]:
        """``HMGET key *fields`` of every key, then the ``extra`` commands, in one round
        trip; their replies in that order (one Redis has no replicas to offer:
        ``replica_ok`` is for the cluster transport)."""
        packed = pack_hmget(keys, fields)
        if extra:
            pack = hiredis.pack_command
            packed = PackedCommands(
                packed.data + b"".join([pack(tuple(command)) for command in extra]),  # type: ignore[arg-type]  # hiredis stub types a 1-tuple
                packed.count + len(extra),
            )
        return self.execute(packed, doing)

    def round_trip(self, commands: Commands | PackedCommands) -> list[Any]:
        """One pipelined round trip, errors untranslated (see :meth:`execute`)."""
        idle = self._idle
        conn = self._checkout()
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

    @contextmanager
    def replies(self, commands: PackedCommands, doing: str) -> Iterator[Callable[[int], list[Any]]]:
        """Send ``commands`` in one write now and yield a reader of their next ``n`` replies,
        so the caller can work while Redis executes the rest. Nothing is retried; a Redis
        that lost the Lua scripts gets them loaded again before the error propagates (the
        caller's retry then finds them). Replies left unread drop the connection."""
        with translated_errors(self.endpoint, doing):
            conn = self._checkout()
            unread = len(commands)

            def read(n: int) -> list[Any]:
                nonlocal unread
                unread -= n
                return [conn.read_response() for _ in range(n)]

            try:
                conn.send_packed_command([commands.data], check_health=False)
                yield read
                if unread:
                    conn.disconnect()  # replies still on the way: never reuse this socket
            except redis.exceptions.NoScriptError:
                conn.disconnect()
                self.load_scripts()
                raise
            except BaseException:
                conn.disconnect()
                raise
            finally:
                self._idle.append(conn)

    def _checkout(self) -> Any:
        """A connection off our free list, or a new one from the pool (see ``_idle``)."""
        try:
            return self._idle.pop()
        except IndexError:
            return self.pool.get_connection()

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


def pool_options(max_connections: int, timeout: float, connect_timeout: float, what: str) -> dict[str, Any]:
    """redis-py pool options: ``timeout`` bounds the wait for each reply and for a free
    connection, ``connect_timeout`` the TCP connect; ConfigError (naming ``what``) unless
    both are finite and positive."""
    if not (0 < timeout < math.inf and 0 < connect_timeout < math.inf):
        raise ConfigError(
            f"{what} timeouts must be finite numbers of seconds > 0; got timeout={timeout!r}, "
            f"connect timeout={connect_timeout!r}"
        )
    return {
        "max_connections": max_connections,
        "timeout": timeout,
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout,
    }


class TenantPools:
    """Per tenant two connection pools (and transports), shared by a store and its
    :meth:`~feature_platform.online.RedisOnlineStore.for_tenant` siblings: one for online
    reads (``read_options``: short timeouts, a timeout not retried) and one for everything
    else (``options``: batch writes, scans, cleanup; longer timeouts, retried once)."""

    def __init__(self, options: Mapping[str, Any], read_options: Mapping[str, Any] | None = None) -> None:
        self._options = {False: dict(options), True: dict(read_options or options)}
        self._transports: dict[tuple[str, bool], RedisTransport | ClusterTransport] = {}
        self._lock = threading.Lock()

    def transport(self, tenant: str, url: str, *, reads: bool = False) -> RedisTransport | ClusterTransport:
        """The batch transport of ``tenant`` (``reads``: its online-read transport), created
        on first use on ``url``: a :class:`ClusterTransport` for ``redis+cluster://`` URLs."""
        with self._lock:
            transport = self._transports.get((tenant, reads))
            if transport is None:
                endpoint = RedisEndpoint.parse(url)
                options = self._options[reads]
                if endpoint.is_cluster:
                    transport = ClusterTransport(endpoint, options, retry_timeouts=not reads)
                else:
                    pool = redis.BlockingConnectionPool.from_url(url, **options)
                    transport = RedisTransport(endpoint, pool, retry_timeouts=not reads)
                self._transports[(tenant, reads)] = transport
            return transport

    def disconnect(self) -> None:
        """Close every pool's connections."""
        with self._lock:
            for transport in self._transports.values():
                transport.disconnect()
