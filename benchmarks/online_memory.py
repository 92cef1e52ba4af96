"""Redis memory per entity-view: ``MEMORY USAGE`` sampled, with and without compression.

For each demo feature view and a 15-feature view (5 int64, 5 float64, 5 strings), 10,000
entities are published through the online write path into a private redis-server; then
``MEMORY USAGE key SAMPLES 0`` (exact for a hash) of 500 random keys gives the mean bytes
per entity-view (key, the hash with ``e``, ``c``, ``v``, Redis's overhead). "zlib" is the
same keys after their value blob is replaced by its zlib form (the codec's compressed form,
normally used above 1 KiB only), to show what compression would save on small values.
"listpack" is the plain write again after ``CONFIG SET hash-max-listpack-value 1024``: Redis
keeps a hash in its compact listpack encoding only while every field is at most 64 bytes
by default, so a value blob over 64 bytes turns the hash into a hash table.

Run: ``.venv/bin/python benchmarks/online_memory.py [--entities 10000]``
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import redis
from _online_data import bench_view, feature_rows, start_redis

from feature_platform.feature_repo import default_registry
from feature_platform.online import RedisOnlineStore
from feature_platform.online.codec import decode_values, encode_values
from feature_platform.specs import FeatureView

SAMPLE = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=10_000)
    args = parser.parse_args()
    views = [*default_registry().views, bench_view("wide_15", 15)]
    server = start_redis()
    try:
        client = redis.Redis.from_url(server.url)
        store = RedisOnlineStore(server.url, "mem")
        print(f"{args.entities:,} entities per view; mean of MEMORY USAGE over {SAMPLE} random keys")
        print(f"{'view':<24}{'features':>9}{'value B':>9}{'bytes/key':>11}{'zlib value B':>14}"
              f"{'zlib bytes/key':>16}{'listpack bytes/key':>20}")
        default = client.config_get("hash-max-listpack-value")["hash-max-listpack-value"]
        for view in views:
            client.config_set("hash-max-listpack-value", default)
            plain_value, plain_key, zlib_value, zlib_key = measure(client, store, view, args.entities)
            client.config_set("hash-max-listpack-value", 1024)
            client.flushall()
            _, listpack_key, _, _ = measure(client, store, view, args.entities)
            client.flushall()
            print(f"{view.name:<24}{len(view.features):>9}{plain_value:>9.0f}{plain_key:>11.0f}"
                  f"{zlib_value:>14.0f}{zlib_key:>16.0f}{listpack_key:>20.0f}")
        client.close()
        store.close()
    finally:
        server.stop()


def measure(
    client: redis.Redis, store: RedisOnlineStore, view: FeatureView, entities: int
) -> tuple[float, float, float, float]:
    """Mean value bytes and MEMORY USAGE per key, as written and with zlib-compressed values."""
    rows = feature_rows(view, entities)
    recent = pa.array([datetime.now(UTC) - timedelta(minutes=5)] * entities, pa.timestamp("us", tz="UTC"))
    for column in ("event_timestamp", "created_timestamp"):  # alive whatever the view's ttl
        rows = rows.set_column(rows.schema.get_field_index(column), column, recent)
    assert store.write(view, rows).written == entities
    keys = random.Random(7).sample(store.view_keys(view).keys([list(range(entities))]), SAMPLE)
    plain = sample(client, keys)
    for key in keys:
        blob = client.hget(key, "v")
        assert blob is not None
        client.hset(key, "v", encode_values(decode_values(blob), compress_above=0))
    compressed = sample(client, keys)
    return plain[0], plain[1], compressed[0], compressed[1]


def sample(client: redis.Redis, keys: list[bytes]) -> tuple[float, float]:
    """Mean length of the value field and mean MEMORY USAGE of ``keys``."""
    values = [client.hstrlen(key, "v") for key in keys]
    usage = [client.memory_usage(key, samples=0) or 0 for key in keys]
    return sum(values) / len(keys), sum(usage) / len(keys)


if __name__ == "__main__":
    main()
