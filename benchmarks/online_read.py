"""Online read latency: our SDK read vs a raw redis-py (hiredis) pipeline, same run.

S data: 10k users, 2 views (8 + 7 = 15 features), materialized through the online write
path. For each shape -- (i) 1 entity x 2 views x 15 features, (ii) 100 entities x 2 views --
2,000 timed calls after warm-up, alternating blocks of the two clients:

* SDK: ``RedisOnlineStore.read(...)`` then ``.to_dict()`` (keys checked, one pipelined
  round trip, values decoded, statuses and timestamps computed, Feast-like columns);
* raw floor: ``redis.Redis(...).pipeline(transaction=False)`` with the same HMGETs, then
  the same value decoding (msgpack + int timestamps), nothing else.

Run: ``.venv/bin/python benchmarks/online_read.py [--calls 2000]``
"""

from __future__ import annotations

import argparse
import gc
import time

import msgpack
import redis
from _online_data import bench_view, feature_rows, percentiles, start_redis

from feature_platform.online import RedisOnlineStore
from feature_platform.online.codec import decode_values
from feature_platform.specs import ViewRequest

N_USERS = 10_000
VIEW_A = bench_view("bench_activity", 8)
VIEW_B = bench_view("bench_profile", 7, first=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    server = start_redis()
    try:
        run(server.url, args.calls, args.warmup)
    finally:
        server.stop()


def run(url: str, calls: int, warmup: int) -> None:
    store = RedisOnlineStore(url, "bench")
    for view in (VIEW_A, VIEW_B):
        store.write(view, feature_rows(view, N_USERS))
    requests = [ViewRequest(VIEW_A, tuple(VIEW_A.feature_names)), ViewRequest(VIEW_B, tuple(VIEW_B.feature_names))]
    raw = redis.Redis.from_url(url)
    prefixes = [store.prefix(VIEW_A), store.prefix(VIEW_B)]

    def sdk(rows: list[dict[str, object]]) -> object:
        return store.read(requests, rows).to_dict()

    def floor(rows: list[dict[str, object]]) -> object:
        pipe = raw.pipeline(transaction=False)
        for prefix in prefixes:
            for row in rows:
                pipe.hmget(prefix + msgpack.packb(row["user_id"]), "e", "c", "v")
        return [
            None if e is None else (int(e), int(c), decode_values(v)) for e, c, v in pipe.execute()
        ]

    print(f"online read: {N_USERS} users, 2 views, 15 features; {calls} calls per cell after {warmup} warm-up")
    print(f"{'shape':<32}{'client':<14}{'p50 us':>10}{'p95 us':>10}{'p99 us':>10}{'p50 ratio':>11}")
    for n_entities in (1, 100):
        shape = f"{n_entities} entit{'y' if n_entities == 1 else 'ies'} x 2 views x 15 f"
        samples: dict[str, list[int]] = {"raw floor": [], "SDK": []}
        clients = {"raw floor": floor, "SDK": sdk}
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
        for name in ("raw floor", "SDK"):
            p50, p95, p99 = percentiles(samples[name][warmup:])
            print(f"{shape:<32}{name:<14}{p50:>10.1f}{p95:>10.1f}{p99:>10.1f}{p50 / floor_p50:>10.2f}x")
    print("targets: SDK p50 <= 1.3x floor; 1 entity p50 < 200 us, p99 < 400 us; 100 entities p50 < 3000 us")


def check_same(sdk_out: object, floor_out: object, n_entities: int) -> None:
    """Both clients must return the same values, or the comparison means nothing."""
    assert isinstance(sdk_out, dict) and isinstance(floor_out, list)
    first = floor_out[0]
    assert first is not None and sdk_out["f0"][0] == first[2]["f0"], "SDK and floor disagree"
    assert len(floor_out) == 2 * n_entities


if __name__ == "__main__":
    main()
