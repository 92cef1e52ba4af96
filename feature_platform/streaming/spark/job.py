"""The stream views on Spark Structured Streaming (``feature-platform stream --engine spark``).

One streaming query per stream source reads the source's log partitions
(:mod:`.source`) in bounded micro-batches and hands each batch to ``foreachBatch``. There,
every log partition of the batch is one Spark task (the reader plans one input partition
per log partition, in log order) that runs the SAME core function as the embedded
processor, :func:`feature_platform.streaming.processor.process_entries`: watermark routing
to dead letters, tiles, latest-value compare-and-set and offline landing, guarded by the
partition's applied position. So the two engines give identical online state, dead
letters and landings for the same log, and a batch that Spark replays after a failure
changes nothing that was applied.

Watermarks: the query carries ``withWatermark(event_time, allowed_lateness)`` and each
batch reads Spark's watermark from the query's offset log (``batchWatermarkMs``) and
records it in the partition's progress hash (``spark_watermark``) for the health readers.
Routing late events uses the partition's own watermark (advanced event by event in log
order, persisted in Redis): Spark's watermark is global over all partitions and lags one
batch, and its window aggregation would drop late rows silently, which is not acceptable
here; a per-partition rule decides the same on both engines whatever the batch boundaries.

Ownership: the driver holds every partition's lease for the query's lifetime (heartbeat
thread), so an embedded processor started on the same partitions waits, and the batch
script refuses writes from an owner that lost its lease.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import redis

from feature_platform.errors import ConfigError, TransientError
from feature_platform.online.connection import RedisEndpoint
from feature_platform.online.tenancy import TenantRouting
from feature_platform.online.transport import RedisTransport
from feature_platform.settings import Settings
from feature_platform.specs import FeatureView, StreamSource
from feature_platform.streaming.apply import BatchApplier
from feature_platform.streaming.errors import StreamQueryFailedError
from feature_platform.streaming.lease import Leases, new_owner_id
from feature_platform.streaming.log import log_endpoint, parse_stream_id
from feature_platform.streaming.micro_batch import Entries, process_entries
from feature_platform.streaming.processor import stream_views
from feature_platform.streaming.spark.source import SOURCE_NAME, RedisLogDataSource

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

logger = logging.getLogger(__name__)

_LEASE_TTL_MS = 15_000


@dataclass(frozen=True)
class SparkStreamOptions:
    """How the Spark queries run.

    ``checkpoint_dir``: one sub-folder per source holds the query's offsets and commits
    (a restart resumes from it); ``trigger_seconds``: the micro-batch interval;
    ``max_rows_per_batch``: the admission-control bound of every micro-batch.
    """

    checkpoint_dir: Path
    trigger_seconds: float = 1.0
    max_rows_per_batch: int = 10_000

    def __post_init__(self) -> None:
        if self.trigger_seconds <= 0:
            raise ConfigError(f"trigger_seconds must be > 0, got {self.trigger_seconds}")
        if self.max_rows_per_batch < 1:
            raise ConfigError(f"max_rows_per_batch must be >= 1, got {self.max_rows_per_batch}")


@dataclass
class _PartitionBatch:
    """What runs on an executor for one log partition of one micro-batch (picklable)."""

    redis_url: str
    tenant: str
    offline_dir: str
    source: StreamSource
    views: list[FeatureView]
    owner: str

    def __call__(self, rows: Iterator[Any]) -> None:
        entries: Entries = []
        partition = None
        for row in rows:
            partition = row.partition
            entries.append((row.stream_id.encode(), bytes(row.data)))
        if partition is None:
            return
        # One pool of two connections: the transport keeps one for the batch script, its
        # client borrows the other to read the partition's state or reload lost scripts.
        pool = redis.BlockingConnectionPool.from_url(self.redis_url, max_connections=2)
        transport = RedisTransport(RedisEndpoint.parse(self.redis_url), pool)
        try:
            outcome = process_entries(
                transport.client,
                BatchApplier(transport),
                Path(self.offline_dir),
                self.tenant,
                self.source,
                self.views,
                partition,
                entries,
                owner=self.owner,
            )
        finally:
            transport.disconnect()
        if outcome.lease_lost:
            # Failing the batch stops the query: Spark must not go on writing without the lease.
            raise TransientError(
                f"stream source {self.source.name!r} partition {partition}: the Spark engine lost its lease"
            )


@dataclass
class _MicroBatch:
    """The ``foreachBatch`` function of one source's query (runs on the driver)."""

    work: _PartitionBatch
    checkpoint: Path
    batches: int = 0

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        batch.foreachPartition(self.work)
        self.batches += 1
        from feature_platform.online.keys import StreamKeys

        keys = StreamKeys(self.work.tenant, self.work.source.name)
        watermark_ms = spark_watermark_ms(self.checkpoint, batch_id)
        client = redis.Redis.from_url(self.work.redis_url)
        try:
            pipe = client.pipeline(transaction=False)
            for partition in range(self.work.source.partitions):
                pipe.hset(keys.progress(partition), "spark_watermark_ms", watermark_ms)
            pipe.execute()
        finally:
            client.close()


def spark_watermark_ms(checkpoint: Path, batch_id: int) -> int:
    """Spark's event-time watermark of ``batch_id``, from the query's offset log."""
    lines = (checkpoint / "offsets" / str(batch_id)).read_text().splitlines()
    return int(json.loads(lines[1])["batchWatermarkMs"])


class SparkStream:
    """The running Spark queries of some stream views, their leases and their heartbeat."""

    def __init__(
        self,
        spark: SparkSession,
        redis_url: str,
        tenant: str,
        views: Sequence[FeatureView],
        offline_dir: Path,
        options: SparkStreamOptions,
    ) -> None:
        log_endpoint(redis_url)
        self.spark = spark
        self.redis_url = redis_url
        self.tenant = tenant
        self.options = options
        self.offline_dir = offline_dir
        self.by_source = stream_views(views)
        if not self.by_source:
            raise ConfigError("no stream views to run: give views whose source is a StreamSource")
        self.owner = f"spark-{new_owner_id()}"
        self._client = redis.Redis.from_url(redis_url)
        self._leases = Leases(self._client, self.owner, _LEASE_TTL_MS)
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.queries: list[StreamingQuery] = []
        self._micro_batches: list[_MicroBatch] = []

    @property
    def batches(self) -> int:
        """Micro-batches processed by this stream's queries (in this process)."""
        return sum(m.batches for m in self._micro_batches)

    def start(self, *, wait_for_leases_s: float = 60.0) -> SparkStream:
        """Take every partition's lease (waiting for other owners), then start the queries."""
        from feature_platform.online.keys import StreamKeys

        deadline = time.monotonic() + wait_for_leases_s
        for source in self._sources():
            keys = StreamKeys(self.tenant, source.name)
            while not all(self._leases.hold(keys, range(source.partitions)).values()):
                if time.monotonic() > deadline:
                    raise ConfigError(
                        f"stream source {source.name!r}: another processor owns some of its partitions; "
                        "stop it before starting the Spark engine"
                    )
                time.sleep(0.5)
        self._renew()
        self._heartbeat = threading.Thread(target=self._beat, name="spark-stream-leases", daemon=True)
        self._heartbeat.start()
        self.spark.dataSource.register(RedisLogDataSource)
        self.queries = [self._start_query(source) for source in self._sources()]
        return self

    def _sources(self) -> list[StreamSource]:
        return [views[0].stream_source for views in self.by_source.values()]

    def _start_query(self, source: StreamSource) -> StreamingQuery:
        from feature_platform.online.keys import StreamKeys

        keys = StreamKeys(self.tenant, source.name)
        checkpoint = self.options.checkpoint_dir / self.tenant / source.name
        frame = (
            self.spark.readStream.format(SOURCE_NAME)
            .option("url", self.redis_url)
            .option("keys", json.dumps([keys.log(p).decode() for p in range(source.partitions)]))
            .option("max_rows_per_batch", str(self.options.max_rows_per_batch))
            .load()
            .withWatermark("event_time", f"{int(source.allowed_lateness.total_seconds() * 1000)} milliseconds")
        )
        work = _PartitionBatch(
            self.redis_url, self.tenant, str(self.offline_dir), source, self.by_source[source.name], self.owner
        )
        micro_batch = _MicroBatch(work, checkpoint)
        self._micro_batches.append(micro_batch)
        return (
            frame.writeStream.queryName(f"feature_platform_{self.tenant}_{source.name}")
            .foreachBatch(micro_batch)
            .option("checkpointLocation", str(checkpoint))
            .trigger(processingTime=f"{self.options.trigger_seconds} seconds")
            .start()
        )

    def _renew(self) -> None:
        """Renew the leases and the heartbeat that the health sensor reads as a live owner."""
        from feature_platform.online.keys import StreamKeys

        for source in self._sources():
            keys = StreamKeys(self.tenant, source.name)
            self._leases.hold(keys, range(source.partitions))
            self._leases.heartbeat(keys, range(source.partitions), _LEASE_TTL_MS / 3000)

    def _beat(self) -> None:
        while not self._stop.wait(_LEASE_TTL_MS / 3000):
            self._renew()

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Block until every log partition is applied up to its newest entry (True), or the
        timeout (False). The log itself is trimmed only when Spark commits the next batch,
        so idleness is read from the applied positions, not from the stream lengths."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.raise_if_failed()
            batch_running = any(q.status["isTriggerActive"] for q in self.queries)
            if not batch_running and all(self._drained(s, p) for s in self._sources() for p in range(s.partitions)):
                return True
            time.sleep(0.5)
        return False

    def _drained(self, source: StreamSource, partition: int) -> bool:
        from feature_platform.online.keys import StreamKeys

        keys = StreamKeys(self.tenant, source.name)
        newest = cast(list[Any], self._client.xrevrange(keys.log(partition), "+", "-", count=1))
        if not newest:
            return True
        applied = cast(bytes | None, self._client.hget(keys.progress(partition), "pos"))
        return applied is not None and parse_stream_id(applied) >= parse_stream_id(newest[0][0])

    def raise_if_failed(self) -> None:
        """Raise when a query stopped with an error (the stream cannot go on)."""
        for query in self.queries:
            error = query.exception()
            if error is not None:
                raise StreamQueryFailedError(str(query.name), error)

    def stop(self) -> None:
        """Stop the queries, the heartbeat, and release the leases."""
        from feature_platform.online.keys import StreamKeys

        for query in self.queries:
            query.stop()
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        for source in self._sources():
            self._leases.release(StreamKeys(self.tenant, source.name), range(source.partitions))
        self._client.close()


def spark_session(master: str | None = None) -> SparkSession:
    """The session of the Spark engine: ``master`` when given, else what ``spark.master`` says
    (``spark-submit``, ``spark-defaults.conf``), else ``local[*]``."""
    from pyspark.sql import SparkSession

    # The log reader runs in Python workers, which must import this package.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("feature_platform_stream").config("spark.sql.session.timeZone", "UTC")
    if master is not None:
        builder = builder.master(master)
    return builder.getOrCreate()


def run_spark_stream(
    settings: Settings,
    views: Sequence[FeatureView] | None = None,
    *,
    options: SparkStreamOptions | None = None,
    until_idle: bool = False,
    stop: threading.Event | None = None,
    spark: SparkSession | None = None,
    idle_timeout_s: float = 3600.0,
) -> SparkStream:
    """Run the stream views of ``settings`` on Spark until ``stop`` is set, or, with
    ``until_idle``, until every log partition is applied (``feature-platform stream --engine
    spark``). Returns the stopped stream (its queries' progress stays readable)."""
    chosen = list(views) if views is not None else settings.load_registry().views
    url = TenantRouting().url_for(settings.tenant, settings.redis_url)
    stream = SparkStream(
        spark or spark_session(),
        url,
        settings.tenant,
        chosen,
        settings.offline_dir,
        options or settings.spark_stream_options(),
    ).start()
    try:
        if until_idle:
            if not stream.wait_until_idle(idle_timeout_s):
                raise TransientError(f"the Spark stream did not drain its log within {idle_timeout_s:.0f} s")
        else:
            while not (stop is not None and stop.wait(1.0)):
                stream.raise_if_failed()
    finally:
        stream.stop()
    return stream
