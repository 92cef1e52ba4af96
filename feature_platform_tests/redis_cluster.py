"""A private Redis Cluster for tests: 3 masters + 3 replicas of the real redis-server binary.

Free ports, files in a temp dir, a short ``cluster-node-timeout`` so a killed master fails
over within a few seconds. Creation (``redis-cli --cluster create``) takes about a second.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from feature_platform_tests.redis_server import RedisServer


class RedisCluster:
    """``masters`` masters with ``replicas`` replicas each, on 127.0.0.1 free ports."""

    def __init__(
        self, workdir: Path, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000
    ) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed (apt-get install redis-tools)")
        self.cli = cli
        self.workdir = workdir
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming one node (the client discovers the others)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> RedisCluster:
        """Start every node, create the cluster and wait until all slots are served."""
        for index in range((self.replicas + 1) * self.masters):
            node = RedisServer(
                self.workdir / f"node{index}",
                [
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(self.node_timeout_ms),
                    # A replica takes over however long it was cut off from its master.
                    "--cluster-replica-validity-factor", "0",
                    # Replicas sync at once (the default waits 5 s): a master killed right
                    # after creation must have a replica that holds its data and functions.
                    "--repl-diskless-sync-delay", "0",
                ],
            )
            node.port = _free_cluster_port(self.ports)
            self.nodes.append(node.start())
        subprocess.run(
            [
                self.cli, "--cluster", "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", str(self.replicas), "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Block until every live node reports ``cluster_state:ok`` with all slots assigned
        and every replica's link to its master is up (its data is in sync)."""
        deadline = time.monotonic() + timeout
        for node in self.live_nodes():
            client = node.client()
            try:
                while not _healthy(client):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"Redis Cluster in {self.workdir} did not become healthy")
                    time.sleep(0.05)
            finally:
                client.close()

    def live_nodes(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.proc is not None and node.proc.poll() is None]

    def master_of_slot(self, slot: int) -> RedisServer:
        """The live node that serves ``slot`` as master right now."""
        for node in self.live_nodes():
            client = node.client()
            try:
                role = client.execute_command("ROLE")[0]
                if role == b"master":
                    for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                        if start <= slot <= end:
                            port = int(master[1])
                            return next(n for n in self.nodes if n.port == port)
            finally:
                client.close()
        raise RuntimeError(f"No live master serves slot {slot}")

    def masters_now(self) -> list[RedisServer]:
        """The live nodes whose role is master."""
        found = []
        for node in self.live_nodes():
            client = node.client()
            try:
                if client.execute_command("ROLE")[0] == b"master":
                    found.append(node)
            finally:
                client.close()
        return found

    def restart(self, node: RedisServer) -> None:
        """Start a killed node again (it rejoins from its nodes.conf, as a replica)."""
        node.start()

    def flushall(self) -> None:
        """Empty every master (replicas follow)."""
        for node in self.masters_now():
            client = node.client()
            try:
                client.flushall()
                client.function_flush()
            finally:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _healthy(client: redis.Redis) -> bool:
    info = client.cluster("INFO")
    if info["cluster_state"] != "ok" or int(info["cluster_slots_ok"]) != 16384:
        return False
    replication = client.info("replication")
    return replication["role"] == "master" or replication.get("master_link_status") == "up"


_BUS_OFFSET = 10_000
_MAX_PORT = 65_535 - _BUS_OFFSET


def _free_cluster_port(taken: list[int]) -> int:
    """A port whose cluster bus port (+10000) is free too; Redis refuses ports above 55535."""
    for _ in range(200):
        port = random.randint(20_000, _MAX_PORT)
        if port in taken:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + _BUS_OFFSET))
        except OSError:
            continue
        return port
    raise RuntimeError("No free port pair (port, port + 10000) for a Redis Cluster node")
