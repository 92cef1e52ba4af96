"""Online read latency on one Redis and on a 3-master Redis Cluster, against raw redis-py.

S data: 10k users, 2 views (8 + 7 = 15 features), materialized through the online write
path, on a private redis-server and on a private Redis Cluster (3 masters + 3 replicas)
started by this script. For each topology and shape -- (i) 1 entity x 2 views x 15
features, (ii) 100 entities x 2 views -- 2,000 timed calls after warm-up, alternating
blocks of the two clients:

* SDK: ``RedisOnlineStore.read(...)`` then ``.to_dict()`` (keys checked, pipelined round
  trips -- one per node on the cluster --, values decoded, statuses and timestamps
  computed, Feast-like columns);
* raw floor: redis-py's pipeline with the same HMGETs (``Redis.pipeline`` on one Redis,
  ``RedisCluster.pipeline`` on the cluster), then the same value decoding, nothing else.

Ratios: each client against its topology's floor, and the cluster SDK against the
single-node SDK. Then key spreading: one hot user spread over 3 copies (one per master) and
read 10,000 times through the SDK; the HMGETs each master served show how evenly the reads
landed on the copies.

Run: ``.venv/bin/python benchmarks/online_read.py [--calls 2000]``
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

import redis
from _online_data import bench_view, feature_rows, percentiles, start_cluster, start_redis

from feature_platform.online import RedisOnlineStore
from feature_platform.online.codec import decode_values
from feature_platform.specs import ViewRequest
from feature_platform_tests.redis_cluster import RedisCluster

N_USERS = 10_000
VIEW_A = bench_view("bench_activity", 8)
VIEW_B = bench_view("bench_profile", 7, first=8)
HOT_READS = 10_000
REQUESTS = [ViewRequest(VIEW_A, tuple(VIEW_A.feature_names)), ViewRequest(VIEW_B, tuple(VIEW_B.feature_names))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    server = start_redis()
    cluster = start_cluster()
    try:
        print(f"online read: {N_USERS} users, 2 views, 15 features; {args.calls} calls per cell after "
              f"{args.warmup} warm-up")
        print(f"{'topology':<10}{'shape':<32}{'client':<11}{'p50 us':>9}{'p95 us':>9}{'p99 us':>9}"
              f"{'vs floor':>10}{'vs 1 node':>11}")
        single: dict[int, float] = {}
        for topology, url in (("1 node", server.url), ("cluster", cluster.url)):
            raw: redis.Redis | redis.RedisCluster
            if topology == "cluster":
                raw = redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
            else:
                raw = redis.Redis.from_url(url)
            run(topology, RedisOnlineStore(url, "bench"), raw, args.calls, args.warmup, single)
            raw.close()
        print("targets: SDK p50 <= 1.3x its floor (cluster: the redis-py cluster pipeline)")
        spread_evenness(cluster)
    finally:
        cluster.stop()
        server.stop()


def run(
    topology: str,
    store: RedisOnlineStore,
    raw: redis.Redis | redis.RedisCluster,
    calls: int,
    warmup: int,
    single: dict[int, float],
) -> None:
    """Time the SDK and the floor on one topology; ``single``: the 1-node SDK p50 per shape."""
    for view in (VIEW_A, VIEW_B):
        store.write(view, feature_rows(view, N_USERS))
    layouts = [store.view_keys(VIEW_A), store.view_keys(VIEW_B)]

    def sdk(rows: list[dict[str, object]]) -> object:
        return store.read(REQUESTS, rows).to_dict()

    def floor(rows: list[dict[str, object]]) -> object:
        pipe = raw.pipeline()
        for layout in layouts:
            for row in rows:
                pipe.hmget(layout.key([row["user_id"]]), "e", "c", "v")
        return [
            None if e is None else (int(e), int(c), decode_values(v)) for e, c, v in pipe.execute()
        ]

    for n_entities in (1, 100):
        shape = f"{n_entities} entit{'y' if n_entities == 1 else 'ies'} x 2 views x 15 f"
        clients: dict[str, Callable[[list[dict[str, object]]], object]] = {"raw floor": floor, "SDK": sdk}
        samples: dict[str, list[int]] = {name: [] for name in clients}
        step = 97
        batches = [[{"user_id": (i * step + j) % N_USERS} for j in range(n_entities)] for i in range(calls + warmup)]
        check_same(sdk(batches[0]), floor(batches[0]), n_entities)
        gc.collect()
        block = 100
        for start in range(0, calls + warmup, block):
            for name, client in clients.items():
                out = samples[name]
                for rows in batches[start : start + block]:
                    t0 = time.perf_counter_ns()
                    client(rows)
                    out.append(time.perf_counter_ns() - t0)
        floor_p50 = percentiles(samples["raw floor"][warmup:])[0]
        for name in clients:
            p50, p95, p99 = percentiles(samples[name][warmup:])
            if name == "SDK" and topology == "1 node":
                single[n_entities] = p50
            vs_single = f"{p50 / single[n_entities]:.2f}x" if name == "SDK" else ""
            print(f"{topology:<10}{shape:<32}{name:<11}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}"
                  f"{p50 / floor_p50:>9.2f}x{vs_single:>11}")
    store.close()


def spread_evenness(cluster: RedisCluster) -> None:
    """Spread one hot user over 3 copies and count the HMGETs each master serves."""
    store = RedisOnlineStore(cluster.url, "hot")
    store.write(VIEW_A, feature_rows(VIEW_A, 100))
    store.spread(VIEW_A, [{"user_id": 42}], copies=3)
    request = [REQUESTS[0]]

    def served() -> dict[int, int]:
        counts = {}
        for node in cluster.masters_now():
            client = node.client()
            counts[node.port] = int(client.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))
            client.close()
        return counts

    before = served()
    for _ in range(HOT_READS):
        store.read(request, [{"user_id": 42}])
    after = served()
    per_master = sorted(after[port] - before[port] for port in after)
    expected = HOT_READS / len(per_master)
    worst = max(abs(n - expected) / expected for n in per_master)
    print(f"key spreading: user 42 spread over 3 copies on {len(per_master)} masters, read {HOT_READS:,} "
          f"times: HMGETs per master {per_master}, worst {worst:.1%} from an even share "
          "(target: within 20%)")
    store.close()


def check_same(sdk_out: object, floor_out: object, n_entities: int) -> None:
    """Both clients must return the same values, or the comparison means nothing."""
    assert isinstance(sdk_out, dict) and isinstance(floor_out, list)
    first = floor_out[0]
    assert first is not None and sdk_out["f0"][0] == first[2]["f0"], "SDK and floor disagree"
    assert len(floor_out) == 2 * n_entities


if __name__ == "__main__":
    main()
