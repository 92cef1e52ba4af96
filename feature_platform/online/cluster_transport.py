"""Talking to a Redis Cluster: slot routing, one pipelined round trip per node, failover.

A :class:`ClusterTransport` answers the same calls as the single-node transport. Each
command's first key decides its slot (every key of one script call shares the entity
bucket's hash tag, see :mod:`feature_platform.online.keys`); commands are grouped by the
node that serves the slot, sent to every node first and read back after, so a batch costs
one round trip to each node involved, in parallel, and replies come back in order.

Scripts run as Redis Functions (``FCALL``) here, not ``EVALSHA``: a function library is
replicated to replicas, so a replica promoted by a failover serves it at once, whereas the
script cache is per node and a promoted replica answers NOSCRIPT until someone loads it
there (measured: ``benchmarks/cluster_failover.py``). The store still builds ``EVALSHA``
commands; this transport sends them as ``FCALL`` of the same code.

Failover: a batch that meets a dead node, a MOVED/ASK redirection or CLUSTERDOWN refreshes
the slot map and is retried once; if it fails again it raises
:class:`~feature_platform.errors.OnlineStoreUnavailableError` (transient). A serving read
(``retry_timeouts`` off) that times out fails at once and the slot map is refreshed in the
background, so the read never waits longer than its timeout and a hung master that the
cluster replaces is still left behind. The commands
are idempotent (reads, compare-and-set writes, conditional deletes), so a batch partly
applied before a failure is harmless to retry.

Reads of tiers that accept replica lag may go to a replica of the slot (``replica_reads``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import hiredis
import redis
from redis.cluster import ClusterNode, LoadBalancingStrategy, RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ClusterError,
    RedisClusterException,
    TryAgainError,
)

from feature_platform.online.connection import RedisEndpoint, translated_errors
from feature_platform.online.scripts import FUNCTION_LIBRARY, FUNCTION_NAMES

_SCAN_COUNT = 1000
_SCRIPT_CALLS = frozenset({"EVALSHA", "FCALL", "FCALL_RO", b"EVALSHA", b"FCALL", b"FCALL_RO"})
# Failures after which the slot map may be stale: a dead node, a moved slot, a failover.
_TOPOLOGY_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    AskError,  # MovedError too
    ClusterDownError,
    TryAgainError,
    ClusterError,
    RedisClusterException,
)
_REFRESH_INTERVAL_S = 0.1


def _first_key(command: Sequence[object]) -> bytes:
    name = command[0]
    key = command[3] if name in _SCRIPT_CALLS else command[1]
    return key if isinstance(key, bytes) else str(key).encode()


def _as_function_call(command: Sequence[object]) -> Sequence[object]:
    """``EVALSHA sha n keys args`` of a store script as ``FCALL name n keys args`` (same code,
    see the module); other commands as they are."""
    if command[0] == "EVALSHA":
        name = FUNCTION_NAMES.get(cast(str, command[1]))
        if name is not None:
            return ("FCALL", name, *command[2:])
    return command


class ClusterTransport:
    """Pipelined round trips to a Redis Cluster (one tenant's clients)."""

    single_slot_calls = True
    """Every script call's keys must share a slot."""

    def __init__(self, endpoint: RedisEndpoint, options: Mapping[str, Any], *, retry_timeouts: bool = True) -> None:
        self.endpoint = endpoint
        self._options = {
            k: v for k, v in options.items() if k in ("max_connections", "socket_timeout", "socket_connect_timeout")
        }
        self.retry_timeouts = retry_timeouts
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._refreshed_at = 0.0

    @property
    def client(self) -> RedisCluster:
        """The redis-py cluster client (created, and the cluster discovered, on first use)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    endpoint = self.endpoint
                    self._client = RedisCluster(
                        host=endpoint.host,
                        port=endpoint.port or 6379,
                        username=endpoint.username,
                        password=endpoint.password,
                        ssl=endpoint.scheme == "rediss+cluster",
                        # Connections are READONLY so a replica can answer the reads that
                        # allow it; writes and the other reads still go to the master.
                        load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS,
                        **self._options,
                    )
                client = self._client
        return client

    def execute(
        self, commands: Sequence[Sequence[object]], doing: str, replica_ok: Sequence[bool] | None = None
    ) -> list[Any]:
        """Send ``commands`` (one round trip per node); the raw replies, in order.

        ``replica_ok[i]``: command i (a read) may be answered by a replica of its slot.
        """
        with translated_errors(self.endpoint, doing):
            try:
                return self._round_trip(commands, replica_ok)
            except _TOPOLOGY_ERRORS as exc:
                if isinstance(exc, redis.TimeoutError) and not self.retry_timeouts:
                    self._refresh_in_background()
                    raise
                self._refresh()
                return self._round_trip(commands, replica_ok)
            except redis.ResponseError as exc:
                if "function not found" not in str(exc).lower():
                    raise
                self.load_functions()
                return self._round_trip(commands, replica_ok)

    def read_hashes(
        self, keys: Sequence[bytes], fields: tuple[bytes, ...], doing: str,
        replica_ok: Sequence[bool] | None = None, extra: Sequence[Sequence[object]] = (),
    ) -> list[Any]:
        """``HMGET key *fields`` of every key, then the ``extra`` commands (each on its own
        key's master), in one round trip per node involved; the replies in that order."""
        commands = [(b"HMGET", key, *fields) for key in keys] + [tuple(command) for command in extra]
        if replica_ok is not None and extra:
            replica_ok = [*replica_ok, *([False] * len(extra))]
        return self.execute(commands, doing, replica_ok)

    def _round_trip(
        self, commands: Sequence[Sequence[object]], replica_ok: Sequence[bool] | None
    ) -> list[Any]:
        client = self.client
        nodes = client.nodes_manager
        groups: dict[str, tuple[ClusterNode, list[int]]] = {}
        for index, command in enumerate(commands):
            slot = key_slot(_first_key(command))
            if replica_ok is not None and replica_ok[index]:
                node = nodes.get_node_from_slot(slot, load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS)
            else:
                node = nodes.get_node_from_slot(slot)
            entry = groups.get(node.name)
            if entry is None:
                groups[node.name] = (node, [index])
            else:
                entry[1].append(index)
        pack = hiredis.pack_command
        sent: list[tuple[Any, Any, list[int]]] = []
        replies: list[Any] = [None] * len(commands)
        try:
            for node, indices in groups.values():
                pool = client.get_redis_connection(node).connection_pool
                conn = pool.get_connection()
                sent.append((pool, conn, indices))
                data = b"".join([pack(tuple(_as_function_call(commands[i]))) for i in indices])  # type: ignore[arg-type]  # hiredis stub types a 1-tuple
                conn.send_packed_command([data], check_health=False)
            for _, conn, indices in sent:
                read = conn.read_response
                for i in indices:
                    replies[i] = read()
        except BaseException:
            # Replies may be left unread on some sockets: drop those connections.
            for _, conn, _ in sent:
                conn.disconnect()
            raise
        finally:
            for pool, conn, _ in sent:
                pool.release(conn)
        return replies

    def _refresh(self) -> None:
        """Re-read the slot map (at most every 0.1 s, however many callers fail at once)."""
        with self._lock:
            if time.monotonic() - self._refreshed_at < _REFRESH_INTERVAL_S:
                return
            self._refreshed_at = time.monotonic()
            try:
                self.client.nodes_manager.initialize()
            except _TOPOLOGY_ERRORS:
                return

    def _refresh_in_background(self) -> None:
        """:meth:`_refresh` in a thread of its own (one at a time)."""
        if not self._refreshing.acquire(blocking=False):
            return

        def run() -> None:
            try:
                self._refresh()
            finally:
                self._refreshing.release()

        threading.Thread(target=run, name="cluster-slot-refresh", daemon=True).start()

    def load_functions(self) -> None:
        """Load the store's function library on every master (replicas receive it)."""
        for node in self.client.get_primaries():
            self.client.get_redis_connection(node).function_load(FUNCTION_LIBRARY, replace=True)

    def scan(self, pattern: bytes, doing: str) -> Iterator[list[bytes]]:
        """Batches of the keys matching ``pattern`` on every master (SCAN per node)."""
        for node in self._primaries(doing):
            connection = self.client.get_redis_connection(node)
            cursor = 0
            while True:
                with translated_errors(self.endpoint, doing):
                    cursor, keys = connection.scan(cursor, match=pattern, count=_SCAN_COUNT)
                if keys:
                    yield cast(list[bytes], keys)
                if cursor == 0:
                    break

    def _primaries(self, doing: str) -> list[ClusterNode]:
        with translated_errors(self.endpoint, doing):
            return cast(list[ClusterNode], self.client.get_primaries())

    def master_of(self, key: bytes) -> str:
        """``host:port`` of the master serving ``key``'s slot (as this client last saw it)."""
        with translated_errors(self.endpoint, "locating a key"):
            return str(self.client.nodes_manager.get_node_from_slot(key_slot(key)).name)

    def master_count(self) -> int:
        """How many masters share the slots."""
        return len(self._primaries("counting masters"))

    def node_stats(self) -> dict[str, dict[str, Any]]:
        """``INFO stats`` of every master, by ``host:port``."""
        with translated_errors(self.endpoint, "reading node stats"):
            return {
                node.name: self.client.get_redis_connection(node).info("stats")
                for node in self.client.get_primaries()
            }

    def ping(self) -> None:
        """Raise OnlineStoreUnavailableError unless every master answers."""
        with translated_errors(self.endpoint, "pinging"):
            for node in self.client.get_primaries():
                self.client.get_redis_connection(node).ping()

    def disconnect(self) -> None:
        """Close every node's connections."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
