"""Online write throughput: our compare-and-set write path vs raw pipelined HSET, same run.

Scenarios (each into an empty private Redis):

* S: 10k entities x 2 views (8 and 7 features) from 2M source rows (100 rows per entity
  and view). ``write(2M rows)`` includes reducing to the latest row per entity; the
  target comparison is ``write(20k entity rows)`` (already one row per entity) against
  the floor.
* L: 1M entities x 1 view (8 features), one row each.

Floor: ``redis-py`` pipeline (transaction=False, 1,000 commands per round trip) of
``HSET key e <µs> c <µs> v <blob>`` with keys and values encoded beforehand (not timed).
Ours: ``RedisOnlineStore.write``: validation, encoding, Lua compare-and-set with
PEXPIREAT, pipelined (batch_size 1000, 100 keys per EVALSHA).

Cluster: the S rows again on a private Redis Cluster (3 masters + 3 replicas, same 2
cores): the floor is redis-py's cluster pipeline of the same ``HSET`` (1,000 commands per
``execute``), ours ``write()`` (rows grouped by hash-tag bucket, ``FCALL`` per bucket
group, one pipelined round trip per master per batch); each against that floor and against
the single-node ``write()``.

Run: ``.venv/bin/python benchmarks/materialize.py [--large-entities 1000000]``
"""

from __future__ import annotations

import argparse
import time

import pyarrow as pa
import redis
from _online_data import bench_view, feature_rows, start_cluster, start_redis

from feature_platform.online import RedisOnlineStore
from feature_platform.online.codec import encode_values
from feature_platform.specs import FeatureView

VIEW_A = bench_view("bench_activity", 8)
VIEW_B = bench_view("bench_profile", 7, first=8)


def floor_rows(store: RedisOnlineStore, view: FeatureView, table: pa.Table) -> list[tuple[bytes, int, int, bytes]]:
    """The same rows as ``table`` (one per entity), keys and values pre-encoded."""
    layout = store.view_keys(view)
    ids = table.column("user_id").to_pylist()
    events = table.column("event_timestamp").cast(pa.int64()).to_pylist()
    created = table.column("created_timestamp").cast(pa.int64()).to_pylist()
    columns = [table.column(n).to_pylist() for n in view.feature_names]
    names = view.feature_names
    return [
        (layout.key([i]), e, c, encode_values(dict(zip(names, values, strict=True))))
        for i, e, c, *values in zip(ids, events, created, *columns, strict=True)
    ]


def raw_hset(client: redis.Redis | redis.RedisCluster, rows: list[tuple[bytes, int, int, bytes]]) -> float:
    started = time.perf_counter()
    for start in range(0, len(rows), 1000):
        pipe = client.pipeline()
        for key, e, c, v in rows[start : start + 1000]:
            pipe.hset(key, mapping={"e": e, "c": c, "v": v})
        pipe.execute()
    return time.perf_counter() - started


def timed_write(store: RedisOnlineStore, view: FeatureView, table: pa.Table) -> tuple[float, int]:
    started = time.perf_counter()
    result = store.write(view, table)
    return time.perf_counter() - started, result.written


def latest_per_entity(table: pa.Table) -> pa.Table:
    """One row per entity (the largest event time), so both sides write the same rows."""
    order = table.sort_by([("user_id", "ascending"), ("event_timestamp", "descending"), ("created_timestamp", "descending")])
    ids = order.column("user_id").to_numpy()
    first = [True, *(ids[1:] != ids[:-1])]
    return order.filter(pa.array(first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--rows-per-entity", type=int, default=100)
    parser.add_argument("--large-entities", type=int, default=1_000_000)
    args = parser.parse_args()
    server = start_redis()
    try:
        client = redis.Redis.from_url(server.url, socket_timeout=300)  # FLUSHALL of 1M keys is slow
        store = RedisOnlineStore(server.url, "bench")
        lines: list[tuple[str, str, int, float, float | None]] = []

        source = {v.name: feature_rows(v, args.entities, args.rows_per_entity) for v in (VIEW_A, VIEW_B)}
        latest = {name: latest_per_entity(t) for name, t in source.items()}
        n_source = sum(t.num_rows for t in source.values())
        n_latest = sum(t.num_rows for t in latest.values())
        label = f"S: {args.entities // 1000}k ent x 2 views"

        client.flushall()
        floor = [floor_rows(store, v, latest[v.name]) for v in (VIEW_A, VIEW_B)]
        floor_s = sum(raw_hset(client, rows) for rows in floor)
        lines.append((label, "raw HSET floor", n_latest, floor_s, None))

        client.flushall()
        ours_s = sum(timed_write(store, v, latest[v.name])[0] for v in (VIEW_A, VIEW_B))
        lines.append((label, "write(), CAS", n_latest, ours_s, floor_s))

        client.flushall()
        reduce_s = sum(timed_write(store, v, source[v.name])[0] for v in (VIEW_A, VIEW_B))
        lines.append((label + f" ({n_source // 1_000_000}M src)", "write(src rows)", n_latest, reduce_s, floor_s))

        rerun_s = sum(timed_write(store, v, latest[v.name])[0] for v in (VIEW_A, VIEW_B))
        lines.append((label, "re-run same rows", n_latest, rerun_s, floor_s))
        del source, floor
        single_s = ours_s

        cluster = start_cluster()
        try:
            cluster_client = redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
            cluster_store = RedisOnlineStore(cluster.url, "bench")
            label = f"S on cluster: {args.entities // 1000}k x 2"
            floor = [floor_rows(cluster_store, v, latest[v.name]) for v in (VIEW_A, VIEW_B)]
            floor_s = sum(raw_hset(cluster_client, rows) for rows in floor)
            lines.append((label, "raw HSET floor", n_latest, floor_s, None))
            cluster.flushall()
            cluster_s = sum(timed_write(cluster_store, v, latest[v.name])[0] for v in (VIEW_A, VIEW_B))
            lines.append((label, "write(), CAS", n_latest, cluster_s, floor_s))
            cluster_vs_single = single_s / cluster_s
            cluster_client.close()
            cluster_store.close()
        finally:
            cluster.stop()

        large = feature_rows(VIEW_A, args.large_entities)
        label = f"L: {args.large_entities // 1000}k ent x 1 view"
        client.flushall()
        floor_large = floor_rows(store, VIEW_A, large)
        floor_s = raw_hset(client, floor_large)
        lines.append((label, "raw HSET floor", len(floor_large), floor_s, None))
        del floor_large
        client.flushall()
        ours_s, written = timed_write(store, VIEW_A, large)
        assert written == large.num_rows
        lines.append((label, "write(), CAS", large.num_rows, ours_s, floor_s))

        print(f"{'scenario':<34}{'path':<18}{'entity rows':>12}{'seconds':>9}{'rows/s':>11}{'vs floor':>10}")
        for scenario, path, rows, seconds, floor_seconds in lines:
            ratio = "" if floor_seconds is None else f"{floor_seconds / seconds:.2f}x"
            print(f"{scenario:<34}{path:<18}{rows:>12,}{seconds:>9.2f}{rows / seconds:>11,.0f}{ratio:>10}")
        print(f"cluster write() vs single-node write(): {cluster_vs_single:.2f}x the rows/s")
        print("targets: write(), CAS >= 0.5x the raw HSET floor and >= 40,000 entity rows/s; "
              "cluster write() >= 0.5x the single-node write()")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
