"""The Spark Structured Streaming engine beside the embedded processor, same run, same Redis.

Phases (the streaming test repo's ``user_clicks`` view: 2 latest-value features and 7
window aggregates over a 4-partition source):

* **cold start**: from ``SparkStream.start()`` (a new SparkSession on ``local[2]``) to the
  first applied batch.
* **throughput**: a backlog of ``--backlog`` events drained with bounded micro-batches
  (``--max-rows`` per batch), events/s from the first applied batch to the last; the
  embedded processor drains the same backlog (same entries, another tenant) as the ratio
  baseline.
* **latency** at ``--rate`` events/s for ``--seconds`` with a 1 s trigger: event to
  readable (the partition's applied position, written by the same script as the values,
  passes the pushed entry), p50 and p99; the embedded processor under the same load.
* **memory**: peak RSS (VmHWM) of this driver process and of the JVM it started.

Run: ``.venv/bin/python benchmarks/streaming_spark.py [--backlog 100000] [--rate 1000]``
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp

import numpy as np
import redis
from _online_data import start_redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feature_platform.online.keys import StreamKeys
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.settings import Settings
from feature_platform.streaming.log import parse_stream_id
from feature_platform.streaming.processor import ProcessorOptions, run_processor
from feature_platform.streaming.spark.job import SparkStream, SparkStreamOptions, spark_session
from feature_platform_tests.streaming.helpers import burst, copy_log
from feature_platform_tests.streaming.repo import clicks, registry, user_clicks

REGISTRY = "feature_platform_tests.streaming.repo:registry"


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _jvm_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"java" in cmd:
                return int(entry.name)
    return None


def _positions(client: redis.Redis, tenant: str) -> list[tuple[int, int]]:
    keys = StreamKeys(tenant, clicks.name)
    pipe = client.pipeline(transaction=False)
    for p in range(clicks.partitions):
        pipe.hget(keys.progress(p), "pos")
    return [parse_stream_id(v) if v else (0, 0) for v in pipe.execute()]


def _heads(client: redis.Redis, tenant: str) -> list[tuple[int, int]]:
    keys = StreamKeys(tenant, clicks.name)
    pipe = client.pipeline(transaction=False)
    for p in range(clicks.partitions):
        pipe.xrevrange(keys.log(p), "+", "-", count=1)
    return [parse_stream_id(r[0][0]) if r else (0, 0) for r in pipe.execute()]


def _wait(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.002) -> float:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the engine did not catch up")
        time.sleep(poll_s)
    return time.monotonic()


def _drained(client: redis.Redis, tenant: str, heads: list[tuple[int, int]]) -> Callable[[], bool]:
    return lambda: all(pos >= head for pos, head in zip(_positions(client, tenant), heads, strict=True))


def _latency(settings: Settings, client: redis.Redis, rate: int, seconds: float) -> tuple[float, float]:
    """p50 and p99 (ms) from push to applied, pushing ``rate`` events/s in 10 ms steps."""
    store = FeatureStore(settings, registry=registry())
    pending: list[tuple[float, list[tuple[int, int]]]] = []
    samples: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def poll() -> None:
        while not (done.is_set() and not pending):
            positions = _positions(client, settings.tenant)
            now = time.monotonic()
            with lock:
                while pending and all(p >= h for p, h in zip(positions, pending[0][1], strict=True)):
                    samples.append((now - pending.pop(0)[0]) * 1000)
            time.sleep(0.001)

    poller = threading.Thread(target=poll)
    poller.start()
    step = max(1, rate // 100)
    start = time.monotonic()
    user = 0
    while time.monotonic() - start < seconds:
        at = datetime.now(UTC)
        rows = [{"user_id": (user + i) % 5000, "event_timestamp": at, "page": "home", "amount": 1.0, "items": 1} for i in range(step)]
        user += step
        sent = time.monotonic()
        store.push("clicks", rows)
        heads = _heads(client, settings.tenant)
        with lock:
            pending.append((sent, heads))
        time.sleep(max(0.0, 0.01 - (time.monotonic() - sent)))
    done.set()
    poller.join(timeout=120)
    store.close()
    p50, p99 = np.percentile(samples, [50, 99])
    return float(p50), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    server = start_redis()
    data = Path(mkdtemp(prefix="fp-bench-stream-"))
    client = redis.Redis.from_url(server.url)
    embedded = Settings(data_dir=data / "embedded", redis_url=server.url, registry=REGISTRY, tenant="embedded")
    on_spark = Settings(data_dir=data / "spark", redis_url=server.url, registry=REGISTRY, tenant="spark")
    rows_out: list[tuple[str, str, str]] = []
    try:
        pusher = FeatureStore(embedded, registry=registry())
        rows = burst(datetime.now(UTC), args.backlog, 5000, seed=3, spread=timedelta(minutes=60))
        for start in range(0, len(rows), 5000):
            pusher.push("clicks", rows[start : start + 5000])
        pusher.close()
        copy_log(client, "embedded", "spark")
        heads = _heads(client, "embedded")

        began = time.monotonic()
        run_processor(embedded, [user_clicks], until_idle=True, options=ProcessorOptions(block_ms=20))
        embedded_rate = args.backlog / (time.monotonic() - began)

        options = SparkStreamOptions(checkpoint_dir=data / "checkpoints", trigger_seconds=1.0, max_rows_per_batch=args.max_rows)
        began = time.monotonic()
        stream = SparkStream(spark_session("local[2]"), server.url, "spark", [user_clicks], on_spark.offline_dir, options).start()
        first = _wait(lambda: any(p > (0, 0) for p in _positions(client, "spark")), 600)
        last = _wait(_drained(client, "spark", heads), 1800)
        applied_after_first = args.backlog - args.max_rows  # the first batch is inside the cold start
        spark_rate = applied_after_first / (last - first)
        rows_out += [
            ("cold start to first write", f"{first - began:.1f} s", ""),
            (f"drain {args.backlog:,} events, batches <= {args.max_rows:,} rows", f"{spark_rate:,.0f} events/s",
             f"{spark_rate / embedded_rate:.2f}x of embedded ({embedded_rate:,.0f} events/s)"),
        ]
        spark_p50, spark_p99 = _latency(on_spark, client, args.rate, args.seconds)
        stream.stop()
        embedded_stop = threading.Event()
        worker = threading.Thread(
            target=run_processor, args=(embedded, [user_clicks]), kwargs={"stop": embedded_stop, "options": ProcessorOptions(block_ms=5)}
        )
        worker.start()
        emb_p50, emb_p99 = _latency(embedded, client, args.rate, args.seconds)
        embedded_stop.set()
        worker.join()
        rows_out += [
            (f"event to readable p50 at {args.rate:,}/s, 1 s trigger", f"{spark_p50:.0f} ms", f"embedded {emb_p50:.1f} ms"),
            (f"event to readable p99 at {args.rate:,}/s, 1 s trigger", f"{spark_p99:.0f} ms", f"embedded {emb_p99:.1f} ms"),
        ]
        jvm = _jvm_pid()
        rows_out += [
            ("peak RSS, Python driver (with the embedded runs)", f"{_vm_hwm_mb(os.getpid()):,.0f} MB", ""),
            ("peak RSS, JVM", f"{_vm_hwm_mb(jvm):,.0f} MB" if jvm else "not found", ""),
        ]
    finally:
        client.close()
        server.stop()
    print("| Spark engine (local[2]) | measured | beside |\n|---|---|---|")
    for row in rows_out:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
