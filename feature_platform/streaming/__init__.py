"""The real-time half: push ingestion, the stream processor, tiles, landing, backpressure.

Public API (being filled in; /work/wt/STREAM_API.md has the full note):

* ``push_events(log, source, rows) -> PushResult``: validate rows against the StreamSource
  and append them to the tenant's Redis Streams, one stream per partition (a hash of the
  entity key); ``FeatureStore.push`` and ``POST /push`` call it. Errors:
  ``InvalidRowsError`` (row and column named, nothing appended), ``BackpressureError`` /
  ``RateLimitedError`` (transient, carry ``retry_after``), ``OnlineStoreUnavailableError``.
* ``run_processor(settings, views=None, *, partitions=None, until_idle=False, options=None,
  stop=None, on_progress=None) -> ProcessorReport``: the embedded processor
  (``feature-platform stream``).
* ``process_batch(...)``: the processing of one micro-batch (watermark routing to dead
  letters, latest-value compare-and-set, tiles, offline landing), engine-agnostic, so a
  Spark ``foreachBatch`` can call it.
* ``read_stream_health(redis_url, tenant, sources, *, now=None) -> list[PartitionHealth]``
  and ``scaling_advice(...) -> ScalingAdvice`` for the health sensor.
* ``read_landed_events(...)`` and ``recompute_stream_partition(settings, view, start, end)``
  for the daily batch correction.

This package never imports Dagster.
"""
