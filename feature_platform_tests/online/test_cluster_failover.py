"""Redis Cluster failover: a master killed (kill -9) during reads and during a publish.

Reads fail with the transient error for a bounded time, then recover by themselves; a
publish cut by the failover fails with the transient error, and its rerun converges: online
equals offline for every entity and no value regresses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pandas as pd
import pytest
from redis.crc import key_slot

from feature_platform.errors import OnlineStoreUnavailableError
from feature_platform.online import RedisOnlineStore
from feature_platform.specs import ViewRequest
from feature_platform_tests.online.conftest import SCORES, now_utc
from feature_platform_tests.redis_cluster import RedisCluster
from feature_platform_tests.redis_server import RedisServer

N = 3000
# A failover with a 1 s node timeout takes 2-3 s here; the bound leaves room for a busy machine.
RECOVERY_BOUND_S = 15.0


BASE = now_utc() - timedelta(hours=10)


def scores(ids: range, version: int) -> pd.DataFrame:
    """SCORES rows whose `count` is the version and whose event time grows with it."""
    event = BASE + timedelta(minutes=version)
    n = len(ids)
    return pd.DataFrame({
        "user_id": list(ids), "event_timestamp": [event] * n, "created_timestamp": [event] * n,
        "score": [float(i) for i in ids], "count": [version] * n, "label": [f"u{i}" for i in ids],
        "flag": [True] * n, "seen_at": [event] * n,
    })


def versions(store: RedisOnlineStore, ids: range) -> list[int | None]:
    response = store.read([ViewRequest(SCORES, ("count",))], [{"user_id": i} for i in ids])
    return list(response.to_dict()["count"])


@pytest.fixture
def killer(redis_cluster: RedisCluster, cluster_url: str) -> Iterator[list[RedisServer]]:
    """Nodes a test kills; they are restarted and the cluster healed afterwards."""
    killed: list[RedisServer] = []
    yield killed
    for node in killed:
        redis_cluster.restart(node)
    redis_cluster.wait_healthy()


def kill_master_of(redis_cluster: RedisCluster, store: RedisOnlineStore, killed: list[RedisServer]) -> None:
    victim = redis_cluster.master_of_slot(key_slot(store.view_keys(SCORES).key([0])))
    assert victim.proc is not None
    victim.proc.kill()
    victim.proc.wait()
    killed.append(victim)


def test_reads_fail_transiently_during_a_failover_then_recover_by_themselves(
    redis_cluster: RedisCluster, cluster_url: str, killer: list[RedisServer]
) -> None:
    store = RedisOnlineStore(cluster_url, "fo", socket_timeout=1.0, socket_connect_timeout=0.5)
    store.write(SCORES, scores(range(N), 1))
    sample = range(0, N, 30)
    assert versions(store, sample) == [1] * len(sample)

    kill_master_of(redis_cluster, store, killer)
    killed_at = time.monotonic()
    failures: list[float] = []
    while True:
        try:
            answer = versions(store, sample)
        except OnlineStoreUnavailableError:
            failures.append(time.monotonic() - killed_at)
            assert failures[-1] < RECOVERY_BOUND_S, "reads did not recover by themselves"
            time.sleep(0.02)
            continue
        if failures:
            break
        assert answer == [1] * len(sample)  # before the cluster notices: still right
        assert time.monotonic() - killed_at < RECOVERY_BOUND_S, "reads never saw the failover"
    assert answer == [1] * len(sample)
    assert versions(store, range(N)) == [1] * N


def test_a_publish_cut_by_a_failover_fails_and_its_rerun_converges(
    redis_cluster: RedisCluster, cluster_url: str, killer: list[RedisServer]
) -> None:
    store = RedisOnlineStore(
        cluster_url, "fo", batch_size=200, write_rate_limit=2000, socket_timeout=1.0, socket_connect_timeout=0.5
    )
    store.write(SCORES, scores(range(N), 1))
    newer = scores(range(N), 2)
    # The publish takes ~1.5 s at 2,000 rows/s; the master dies 0.5 s in.
    timer = threading.Timer(0.5, kill_master_of, (redis_cluster, store, killer))
    timer.start()
    with pytest.raises(OnlineStoreUnavailableError):
        store.write(SCORES, newer)
    timer.join()

    # A partly applied publish: each entity has the old or the new value, nothing else.
    assert set(versions_when_up(store)) <= {1, 2}

    deadline = time.monotonic() + RECOVERY_BOUND_S
    while True:
        try:
            result = store.write(SCORES, newer)
            break
        except OnlineStoreUnavailableError:
            assert time.monotonic() < deadline, "the rerun never got through"
            time.sleep(0.1)
    assert result.written + result.unchanged + result.skipped_not_newer == N
    assert versions(store, range(N)) == [2] * N
    assert store.write(SCORES, scores(range(N), 1)).written == 0  # an older rerun changes nothing
    assert versions(store, range(N)) == [2] * N


def versions_when_up(store: RedisOnlineStore) -> list[int | None]:
    """Every entity's version, once the cluster answers again."""
    deadline = time.monotonic() + RECOVERY_BOUND_S
    while True:
        try:
            return versions(store, range(N))
        except OnlineStoreUnavailableError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
