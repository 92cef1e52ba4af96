"""A Spark Structured Streaming source over the Redis Streams event log.

Spark 4.3's Python data source API (``DataSource`` + ``DataSourceStreamReader``):

* **Offsets** are the last stream id read per log partition, ``{"0": "1700000000000-3", ...}``;
  they live in the query's checkpoint, so a restarted query replays exactly the range of the
  batch it had not committed.
* **Partitions:** one Spark input partition per log partition, read in log order, so the
  batch function can process each log partition in one task, in order.
* **Admission control:** ``getDefaultReadLimit()`` is ``ReadMaxRows(max_rows_per_batch)`` and
  ``latestOffset(start, limit)`` never plans more rows than the limit, so every micro-batch
  is bounded whatever the backlog.
* **Trimming:** ``commit(end)`` trims each stream up to the committed offset, never earlier,
  so nothing Spark may still replay is removed.

The reader is pickled to the Python workers: Redis clients are created lazily and never
pickled (``__getstate__``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, cast

import msgpack
import pyarrow as pa
import redis
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows
from pyspark.sql.types import StructType

from feature_platform.streaming.log import ENTRY_FIELD, format_stream_id, parse_stream_id

SOURCE_NAME = "feature_platform_redis_log"
SCHEMA = "partition INT, stream_id STRING, data BINARY, event_time TIMESTAMP"
_ARROW_SCHEMA = pa.schema(
    [
        pa.field("partition", pa.int32()),
        pa.field("stream_id", pa.string()),
        pa.field("data", pa.binary()),
        pa.field("event_time", pa.timestamp("us", tz="UTC")),
    ]
)
_START = "0-0"
Entry = tuple[bytes, dict[bytes, bytes]]
_READ_CHUNK = 2_000


class LogRange(InputPartition):
    """The entries of one log partition after ``start`` up to and including ``end``."""

    def __init__(self, key: str, partition: int, start: str, end: str) -> None:
        super().__init__((key, partition, start, end))
        self.key = key
        self.partition = partition
        self.start = start
        self.end = end


class RedisLogDataSource(DataSource):
    """``spark.readStream.format("feature_platform_redis_log")`` over a source's log partitions.

    Options: ``url`` (Redis URL), ``keys`` (JSON list of the log partitions' stream keys, the
    index is the partition) and ``max_rows_per_batch``.
    """

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return RedisLogStreamReader(
            url=self.options["url"],
            keys=json.loads(self.options["keys"]),
            max_rows_per_batch=int(self.options.get("max_rows_per_batch", "10000")),
        )


class RedisLogStreamReader(DataSourceStreamReader):
    """Reads bounded ranges of the log partitions by stream id; trims after Spark commits."""

    def __init__(self, url: str, keys: Sequence[str], max_rows_per_batch: int) -> None:
        if max_rows_per_batch < 1:
            raise ValueError(f"max_rows_per_batch must be >= 1, got {max_rows_per_batch}")
        self.url = url
        self.keys = list(keys)
        self.max_rows_per_batch = max_rows_per_batch
        self._client: redis.Redis | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None
        return state

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self.url)
        return self._client

    def initialOffset(self) -> dict:
        return {str(p): _START for p in range(len(self.keys))}

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_rows_per_batch)

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        if isinstance(limit, ReadAllAvailable):
            return {str(p): self._last_id(key, start[str(p)]) for p, key in enumerate(self.keys)}
        budget = limit.max_rows if isinstance(limit, ReadMaxRows) else self.max_rows_per_batch
        end = dict(start)
        # Fair share per partition, leftovers to the partitions that have more, so one hot
        # partition cannot starve the others and the batch never exceeds the budget.
        pending = list(range(len(self.keys)))
        while budget > 0 and pending:
            share = max(1, budget // len(pending))
            still_more = []
            for p in pending:
                if budget <= 0:
                    break
                count = min(share, budget)
                ids = self._ids_after(self.keys[p], end[str(p)], count)
                if ids:
                    end[str(p)] = ids[-1]
                    budget -= len(ids)
                if len(ids) == count:
                    still_more.append(p)
            pending = still_more
        return end

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        return [
            LogRange(key, p, start[str(p)], end[str(p)])
            for p, key in enumerate(self.keys)
            if start[str(p)] != end[str(p)]
        ]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, LogRange)
        client = redis.Redis.from_url(self.url)
        try:
            cursor = partition.start
            while True:
                entries = _xrange(client, partition.key, f"({cursor}", partition.end, _READ_CHUNK)
                if not entries:
                    return
                yield _to_batch(partition.partition, entries)
                cursor = entries[-1][0].decode()
                if cursor == partition.end:
                    return
        finally:
            client.close()

    def commit(self, end: dict) -> None:
        # XTRIM MINID keeps ids >= the bound: the next id after the committed one keeps
        # exactly what Spark has not committed yet.
        for p, key in enumerate(self.keys):
            last = end[str(p)]
            if last != _START:
                ms, seq = parse_stream_id(last)
                self.client.xtrim(key, minid=format_stream_id((ms, seq + 1)).decode(), approximate=False)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _last_id(self, key: str, start: str) -> str:
        newest = cast(list[Entry], self.client.xrevrange(key, "+", "-", count=1))
        if not newest:
            return start
        last = newest[0][0].decode()
        return last if parse_stream_id(last) > parse_stream_id(start) else start

    def _ids_after(self, key: str, after: str, count: int) -> list[str]:
        return [entry_id.decode() for entry_id, _ in _xrange(self.client, key, f"({after}", "+", count)]


def _xrange(client: redis.Redis, key: str, start: str, end: str, count: int) -> list[Entry]:
    return cast(list[Entry], client.xrange(key, start, end, count=count))


def _to_batch(partition: int, entries: list[Entry]) -> pa.RecordBatch:
    data = [fields[ENTRY_FIELD] for _, fields in entries]
    # The event time is decoded here (field 1 of the entry) so the query can carry a
    # withWatermark on it; the rest of the entry is decoded by the batch function.
    event_us = [msgpack.unpackb(d, raw=False)[1] for d in data]
    return pa.RecordBatch.from_arrays(
        [
            pa.array([partition] * len(entries), pa.int32()),
            pa.array([entry_id.decode() for entry_id, _ in entries], pa.string()),
            pa.array(data, pa.binary()),
            pa.array(event_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        ],
        schema=_ARROW_SCHEMA,
    )
