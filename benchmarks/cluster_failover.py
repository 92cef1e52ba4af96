"""FCALL vs EVALSHA across a Redis Cluster failover: which one comes back by itself?

A private cluster (3 masters + 3 replicas, node timeout 1 s) per mode. A writer sends
pipelines of 64 compare-and-set calls (the store's ``WRITE_IF_NEWER``) through redis-py's
cluster pipeline, in a loop; 1 s in, the master of the first call's slot is killed
(``kill -9``). Per mode: how long after the kill writes failed, and the errors seen.

* EVALSHA masters: the script is loaded on every master the client knows (``SCRIPT
  LOAD``), and again after NOSCRIPT, as the single-node store does.
* EVALSHA all nodes: the script is loaded on every node, replicas too (``SCRIPT LOAD``: the script
  cache is per node and not replicated; redis-py's cluster client lists only the masters,
  so this loads it on each node's address directly); after NOSCRIPT the writer loads it
  again on every live node.
* FCALL: the scripts as a Redis Functions library (``FUNCTION LOAD`` on every master; a
  library replicates to the replicas).

Run: ``.venv/bin/python benchmarks/cluster_failover.py [--rounds 2]``
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import redis
from _online_data import start_cluster
from redis.cluster import RedisCluster

from feature_platform.online.keys import ViewKeys
from feature_platform.online.scripts import (
    FUNCTION_LIBRARY,
    FUNCTION_NAMES,
    WRITE_IF_NEWER,
    WRITE_IF_NEWER_SHA,
)

CALLS = 64
KEYS = ViewKeys("b", "v").keys([list(range(CALLS))])


def run(mode: str) -> tuple[float | None, Counter[str]]:
    """Seconds from the kill to the first successful write after an error, and the errors."""
    cluster = start_cluster()
    try:
        client = RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=1, socket_connect_timeout=0.5)

        def load() -> None:
            if mode == "FCALL":
                for node in client.get_primaries():
                    client.get_redis_connection(node).function_load(FUNCTION_LIBRARY, replace=True)
            elif mode == "EVALSHA masters":
                for node in client.get_primaries():
                    client.get_redis_connection(node).script_load(WRITE_IF_NEWER)
            else:
                # redis-py's client knows only the masters here: load on every node process.
                for node in cluster.live_nodes():
                    direct = node.client()
                    direct.script_load(WRITE_IF_NEWER)
                    direct.close()

        def batch(i: int) -> None:
            pipe = client.pipeline()
            for key in KEYS:
                args = (key, i, i, "", b"v")
                if mode == "FCALL":
                    pipe.execute_command("FCALL", FUNCTION_NAMES[WRITE_IF_NEWER_SHA], 1, *args)
                else:
                    pipe.execute_command("EVALSHA", WRITE_IF_NEWER_SHA, 1, *args)
            pipe.execute()

        load()
        cluster.wait_healthy()
        batch(0)
        victim = cluster.master_of_slot(client.keyslot(KEYS[0]))
        errors: Counter[str] = Counter()
        started = time.monotonic()
        killed_at: float | None = None
        failing = False
        recovered: float | None = None
        i = 0
        while time.monotonic() - started < 20 and recovered is None:
            if killed_at is None and time.monotonic() - started > 1:
                assert victim.proc is not None
                victim.proc.kill()
                victim.proc.wait()
                killed_at = time.monotonic()
            i += 1
            try:
                batch(i)
            except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
                failing = True
                errors["NOSCRIPT" if "NOSCRIPT" in str(exc) else type(exc).__name__] += 1
                if "NOSCRIPT" in str(exc):
                    try:
                        load()
                    except redis.RedisError as load_error:
                        errors[f"reload: {type(load_error).__name__}"] += 1
                time.sleep(0.02)
                continue
            if failing and killed_at is not None:
                recovered = time.monotonic() - killed_at
        client.close()
        return recovered, errors
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"{'mode':<19}{'round':>6}{'writes fail for':>19}  errors")
    for round_ in range(1, args.rounds + 1):
        for mode in ("EVALSHA masters", "EVALSHA all nodes", "FCALL"):
            recovered, errors = run(mode)
            window = "never back (20 s)" if recovered is None else f"{recovered:.1f} s"
            print(f"{mode:<19}{round_:>6}{window:>19}  {dict(errors)}")


if __name__ == "__main__":
    main()
