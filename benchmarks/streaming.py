"""Stream processing: latency, sustained throughput against a raw floor, and overload, in one run.

Everything runs against one private redis-server started here; the Redis is flushed
between phases.

1. **Floor** (same run, same log): ``--events`` events of ``--entities`` users pushed once
   (not timed), then drained by a raw loop: ``XREADGROUP COUNT 1000`` over the partitions,
   msgpack decode, one pipelined ``HSET`` per event and ``XACK``: no lease, no watermark, no
   idempotence guard, no compare-and-set, no offline landing.
2. **Ours, latest value**: the same events drained by the embedded processor
   (``run_processor(until_idle=True)``) for a view of latest-value features only; then for
   the demo's view with windowed aggregations (tiles).
3. **Latency** at ``--rate`` events/s for ``--latency-seconds``: the processor runs in its own
   process; the producer pushes one event per new entity; a poller reads the entities back
   through the online store until each value shows. Event-to-readable = read time minus the
   moment before the push call.
4. **Overload**: the processor in its own process (peak RSS from ``/proc``), producers
   offering 3x the throughput of phase 2 for ``--overload-seconds``; a refused push (429,
   ``BackpressureError``) waits its ``retry_after`` and is retried, never dropped. Then the
   time until the lag is back to 0, and the accounting pushed = applied + dead-lettered + shed.

Run: ``.venv/bin/python benchmarks/streaming.py`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgpack
import numpy as np
import pyarrow as pa
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feature_platform.feature_repo.sources import page_events
from feature_platform.feature_repo.views import user_realtime_activity
from feature_platform.online import RedisOnlineStore
from feature_platform.online.keys import StreamKeys
from feature_platform.sample_data.stream_events import generate_page_events
from feature_platform.settings import Settings
from feature_platform.specs import (
    Entity,
    Feature,
    FeatureView,
    FreshnessTier,
    StreamSource,
    ValueType,
    ViewRequest,
)
from feature_platform.streaming.errors import BackpressureError
from feature_platform.streaming.health import PartitionHealth, read_stream_health
from feature_platform.streaming.processor import ProcessorOptions, run_processor
from feature_platform.streaming.push import StreamLog, push_events
from feature_platform_tests.redis_server import RedisServer

USER = Entity("user", {"user_id": ValueType.INT64})
TENANT = "bench"
FLOOR_GROUP = "floor"


def bench_source(name: str, max_lag: int) -> StreamSource:
    """The demo's page events with the benchmark's backpressure threshold."""
    return StreamSource(
        name, {"user_id": ValueType.INT64}, dict(page_events.field_types),
        allowed_lateness=timedelta(minutes=2), partitions=4, max_lag=max_lag,
    )


def latest_view(source: StreamSource) -> FeatureView:
    """Latest-value features only: the page and the dwell time of the newest event."""
    return FeatureView(
        "bench_latest", USER, [Feature("page", ValueType.STRING), Feature("dwell_s", ValueType.FLOAT64)],
        source, ttl=timedelta(days=1), tier=FreshnessTier.REAL_TIME,
    )


def aggregated_view(source: StreamSource) -> FeatureView:
    """The demo view (last page, 5-minute and 1-hour windows) over the benchmark's source."""
    return FeatureView(
        "bench_aggregated", USER, list(user_realtime_activity.latest_features), source,
        aggregations=user_realtime_activity.aggregations, ttl=timedelta(days=1), tier=FreshnessTier.REAL_TIME,
    )


def push_all(log: StreamLog, source: StreamSource, events: pa.Table, batch: int = 1000) -> float:
    """Push every event in batches; the seconds it took."""
    started = time.perf_counter()
    for offset in range(0, events.num_rows, batch):
        push_events(log, source, events.slice(offset, batch))
    return time.perf_counter() - started


def floor_drain(client: redis.Redis, source: StreamSource, n_events: int) -> float:
    """The raw loop (see the module docstring); the seconds to drain ``n_events``."""
    keys = StreamKeys(TENANT, source.name)
    streams = [keys.log(p) for p in range(source.partitions)]
    for stream in streams:
        client.xgroup_create(stream, FLOOR_GROUP, id="0", mkstream=True)
    names = list(source.field_types)
    drained = 0
    started = time.perf_counter()
    while drained < n_events:
        reply = client.xreadgroup(FLOOR_GROUP, "floor-1", dict.fromkeys(streams, ">"), count=1000, block=100)
        pipe = client.pipeline(transaction=False)
        for stream, entries in reply or []:
            for _, fields in entries:
                entity, event_us, created_us, values = msgpack.unpackb(fields[b"d"], raw=False)
                value = msgpack.packb(dict(zip(names, values, strict=True)))
                pipe.hset(b"floor:" + entity, mapping={"e": event_us, "c": created_us, "v": value})
            pipe.xack(stream, FLOOR_GROUP, *(entry_id for entry_id, _ in entries))
            drained += len(entries)
        pipe.execute()
    return time.perf_counter() - started


def processor_drain(settings: Settings, view: FeatureView) -> tuple[float, int]:
    """The embedded processor draining the log of ``view``'s source; seconds and events applied."""
    started = time.perf_counter()
    report = run_processor(settings, [view], until_idle=True, tenant=TENANT)
    return time.perf_counter() - started, report.applied


@dataclass
class Throughput:
    push_s: float
    floor_s: float
    latest_s: float
    aggregated_s: float
    n_events: int


def throughput_phase(server: RedisServer, settings: Settings, n_events: int, n_entities: int) -> Throughput:
    source = bench_source("bench_events", max_lag=10 * n_events)
    events = generate_page_events(
        n_events, list(range(1, n_entities + 1)), end=datetime.now(UTC), span=timedelta(minutes=4)
    )
    client = server.client()
    log = StreamLog(server.url, TENANT)
    push_s = push_all(log, source, events)
    floor_s = floor_drain(client, source, n_events)
    latest_s, applied = processor_drain(settings, latest_view(source))
    assert applied == n_events, f"latest-value view applied {applied} of {n_events}"
    client.flushall()
    push_all(log, source, events)
    aggregated_s, applied = processor_drain(settings, aggregated_view(source))
    assert applied == n_events, f"aggregated view applied {applied} of {n_events}"
    client.flushall()
    log.close()
    client.close()
    return Throughput(push_s, floor_s, latest_s, aggregated_s, n_events)


def _processor_main(url: str, data_dir: str, view_kind: str, max_lag: int, stop: mp.synchronize.Event) -> None:
    settings = Settings(data_dir=Path(data_dir), redis_url=url, tenant=TENANT)
    source = bench_source("bench_events", max_lag=max_lag)
    view = latest_view(source) if view_kind == "latest" else aggregated_view(source)
    run_processor(settings, [view], tenant=TENANT, stop=stop, options=ProcessorOptions())  # type: ignore[arg-type]


class ProcessorProcess:
    """The embedded processor in a process of its own, whose memory can be read; started
    and owning every partition when the constructor returns."""

    def __init__(self, server: RedisServer, settings: Settings, view_kind: str, max_lag: int) -> None:
        context = mp.get_context("spawn")
        self.stop = context.Event()
        self.process = context.Process(
            target=_processor_main, args=(server.url, str(settings.data_dir), view_kind, max_lag, self.stop)
        )
        self.process.start()
        source = bench_source("bench_events", max_lag)
        deadline = time.monotonic() + 120
        while not all(p.owner_alive for p in total_lag(server.url, source)[1]):
            if time.monotonic() > deadline or not self.process.is_alive():
                raise RuntimeError("the stream processor did not take its partitions within 120 s")
            time.sleep(0.2)

    def memory_kb(self) -> tuple[int, int]:
        """(current RSS, peak RSS) in KiB."""
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines() if ":" in line
        )
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def close(self) -> None:
        self.stop.set()
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


def latency_phase(server: RedisServer, settings: Settings, rate: int, seconds: int) -> list[float]:
    """Event-to-readable latencies in milliseconds (see the module docstring)."""
    source = bench_source("bench_events", max_lag=1_000_000)
    view = latest_view(source)
    processor = ProcessorProcess(server, settings, "latest", source.max_lag)
    log = StreamLog(server.url, TENANT)
    store = RedisOnlineStore(server.url, tenant=TENANT)
    outstanding: dict[int, float] = {}
    lock = threading.Lock()
    latencies: list[float] = []
    producing = threading.Event()
    producing.set()

    def poll() -> None:
        request = [ViewRequest(view, ("page",))]
        while producing.is_set() or outstanding:
            with lock:
                waiting = list(outstanding.items())
            if not waiting:
                time.sleep(0.0005)
                continue
            response = store.read(request, [{"user_id": u} for u, _ in waiting])
            now = time.perf_counter()
            with lock:
                for (user, pushed_at), entity in zip(waiting, response.entities, strict=True):
                    if entity["page"].status.name == "PRESENT":
                        latencies.append((now - pushed_at) * 1000)
                        outstanding.pop(user, None)

    poller = threading.Thread(target=poll)
    poller.start()
    batch = 10
    interval = batch / rate
    next_at = time.perf_counter()
    user = 0
    deadline = next_at + seconds
    while time.perf_counter() < deadline:
        now_ts = datetime.now(UTC)
        users = list(range(user + 1, user + batch + 1))
        user += batch
        rows = [{"user_id": u, "event_timestamp": now_ts, "page": "/product", "dwell_s": 1.0, "category": "shoes"} for u in users]
        pushed_at = time.perf_counter()
        with lock:
            outstanding.update(dict.fromkeys(users, pushed_at))
        push_events(log, source, rows)
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    producing.clear()
    poller.join(timeout=30)
    processor.close()
    store.close()
    log.close()
    server.client().flushall()
    return latencies


@dataclass
class Overload:
    offered_rate: float
    target_rate: float
    pushed: int
    refused_429: int
    peak_lag: int
    start_rss_mb: float
    peak_rss_mb: float
    recovery_s: float
    applied: int
    dead_lettered: int
    shed: int


def _producer_main(url: str, rate: float, seconds: float, seed: int, results: mp.Queue) -> None:  # type: ignore[type-arg]
    source = bench_source("bench_events", max_lag=OVERLOAD_MAX_LAG)
    log = StreamLog(url, TENANT)
    rng = np.random.default_rng(seed)
    pushed = refused = 0
    batch = 500
    started = time.perf_counter()
    next_at = started
    while time.perf_counter() - started < seconds:
        now_us = int(time.time() * 1e6)
        rows = {
            "user_id": rng.integers(1, 100_001, batch),
            "event_timestamp": pa.array(np.full(batch, now_us), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "page": ["/product"] * batch,
            "dwell_s": rng.random(batch) * 60,
            "category": ["shoes"] * batch,
        }
        table = pa.table(rows)
        while True:
            try:
                pushed += push_events(log, source, table).accepted
                break
            except BackpressureError as error:
                refused += 1
                time.sleep(error.retry_after)
                if time.perf_counter() - started >= seconds + 120:
                    break
        next_at += batch / rate
        time.sleep(max(0.0, next_at - time.perf_counter()))
    log.close()
    results.put((pushed, refused, time.perf_counter() - started))


OVERLOAD_MAX_LAG = 5_000


def total_lag(url: str, source: StreamSource) -> tuple[int, list[PartitionHealth]]:
    """Events not yet applied over every partition, and the partitions' health."""
    partitions = [p for source_health in read_stream_health(url, TENANT, [source]) for p in source_health.partitions]
    return sum(p.lag for p in partitions), partitions


def overload_phase(server: RedisServer, settings: Settings, capacity: float, seconds: int, producers: int) -> Overload:
    source = bench_source("bench_events", max_lag=OVERLOAD_MAX_LAG)
    processor = ProcessorProcess(server, settings, "latest", OVERLOAD_MAX_LAG)
    start_rss, _ = processor.memory_kb()
    context = mp.get_context("spawn")
    results: mp.Queue = context.Queue()  # type: ignore[type-arg]
    target = 3 * capacity
    workers = [
        context.Process(target=_producer_main, args=(server.url, target / producers, seconds, seed, results))
        for seed in range(producers)
    ]
    for worker in workers:
        worker.start()
    peak_lag = 0
    while any(w.is_alive() for w in workers):
        lag, _ = total_lag(server.url, source)
        peak_lag = max(peak_lag, lag)
        time.sleep(1.0)
    pushed = refused = 0
    offered = 0.0
    for _ in workers:
        p, r, elapsed = results.get()
        pushed, refused, offered = pushed + p, refused + r, offered + p / elapsed
    stopped = time.perf_counter()
    while True:
        lag, health = total_lag(server.url, source)
        if lag == 0:
            break
        time.sleep(0.2)
    recovery = time.perf_counter() - stopped
    time.sleep(1.0)
    _, peak_rss = processor.memory_kb()
    processor.close()
    _, health = total_lag(server.url, source)
    dead = sum(p.dead_lettered for p in health)
    shed = sum(sum(p.shed.values()) for p in health)
    applied = sum(p.events for p in health) - dead - shed
    server.client().flushall()
    return Overload(
        offered, target, pushed, refused, peak_lag, start_rss / 1024, peak_rss / 1024, recovery,
        applied, dead, shed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--latency-seconds", type=int, default=20)
    parser.add_argument("--overload-seconds", type=int, default=60)
    parser.add_argument("--producers", type=int, default=2)
    args = parser.parse_args()

    with RedisServerDir() as (server, settings):
        tp = throughput_phase(server, settings, args.events, args.entities)
        latencies = latency_phase(server, settings, args.rate, args.latency_seconds)
        latest_rate = tp.n_events / tp.latest_s
        overload = overload_phase(server, settings, latest_rate, args.overload_seconds, args.producers)

    floor_rate = tp.n_events / tp.floor_s
    print(f"{tp.n_events:,} events of {args.entities:,} users, 4 partitions, one process per side; cpu count {os.cpu_count()}")
    print(f"{'path':<42}{'seconds':>9}{'events/s':>12}{'vs floor':>10}")
    print(f"{'push (SDK, 1,000 rows per call)':<42}{tp.push_s:>9.2f}{tp.n_events / tp.push_s:>12,.0f}{'':>10}")
    print(f"{'raw floor: XREADGROUP + pipelined HSET':<42}{tp.floor_s:>9.2f}{floor_rate:>12,.0f}{'1.00x':>10}")
    print(f"{'processor, latest-value view':<42}{tp.latest_s:>9.2f}{latest_rate:>12,.0f}{latest_rate / floor_rate:>9.2f}x")
    aggregated_rate = tp.n_events / tp.aggregated_s
    print(f"{'processor, 3 windows + last (demo view)':<42}{tp.aggregated_s:>9.2f}{aggregated_rate:>12,.0f}{aggregated_rate / floor_rate:>9.2f}x")
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"), float("nan"))
    print(f"\nlatency at {args.rate:,} events/s for {args.latency_seconds} s: {len(latencies):,} events, "
          f"event-to-readable p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    o = overload
    accounted = o.applied + o.dead_lettered + o.shed
    print(f"\noverload {args.overload_seconds} s, target 3x = {o.target_rate:,.0f} events/s offered by {args.producers} producers, "
          f"achieved {o.offered_rate:,.0f} events/s accepted")
    print(f"  pushed {o.pushed:,}, 429 answers {o.refused_429:,}, peak lag {o.peak_lag:,} events (max_lag {OVERLOAD_MAX_LAG:,}/partition)")
    print(f"  processor RSS {o.start_rss_mb:.0f} MB at start, peak {o.peak_rss_mb:.0f} MB; recovery to lag 0: {o.recovery_s:.1f} s")
    print(f"  accounting: pushed {o.pushed:,} = applied {o.applied:,} + dead-lettered {o.dead_lettered:,} + shed {o.shed:,}"
          f" -> {'OK' if accounted == o.pushed else f'MISMATCH ({accounted - o.pushed:+,})'}")
    print("\ntargets: p50 < 50 ms, p99 < 250 ms, latest-value >= 50,000 events/s and >= 0.5x floor, no event unaccounted")


class RedisServerDir:
    """A private redis-server and settings over a temporary data folder."""

    def __enter__(self) -> tuple[RedisServer, Settings]:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="bench_streaming_")
        root = Path(self._tmp.name)
        self.server = RedisServer(root / "redis").start()
        return self.server, Settings(data_dir=root / "data", redis_url=self.server.url, tenant=TENANT)

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self._tmp.cleanup()


if __name__ == "__main__":
    main()
