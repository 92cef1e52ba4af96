"""The Spark stream engine as a Dagster job: a bounded catch-up run.

A long-running stream is not a Dagster run: a run has an end, a stream does not. In
production the stream (``feature-platform stream --engine spark``, or ``spark-submit`` of
the same entry point) is supervised like any service (systemd, a Kubernetes Deployment,
Databricks jobs with restart on failure); it resumes from its checkpoint after any restart,
and ``stream_health_sensor`` pages when a partition has no live owner. This job is the
Dagster-launchable form for what does end: drain the log of some stream views on Spark
(after an outage, or on a schedule for a deployment without a resident processor), then stop.
"""

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.streaming.spark.job import SparkStreamOptions, run_spark_stream

SPARK_STREAM_JOB = "spark_stream_catch_up_job"


class SparkStreamConfig(dg.Config):
    """Which stream views to drain (default: all) and how the micro-batches run."""

    views: list[str] | None = None
    trigger_seconds: float = 1.0
    max_rows_per_batch: int = 10_000
    timeout_seconds: float = 3600.0


@dg.op
def spark_stream_catch_up_op(
    context: dg.OpExecutionContext,
    feature_platform: FeaturePlatformResource,
    pyspark: LazyPySparkResource,
    config: SparkStreamConfig,
) -> None:
    """Run the stream views on Spark until every log partition is applied, then stop."""
    settings = feature_platform.settings
    registry = feature_platform.feature_registry
    views = [registry.view(n) for n in config.views] if config.views else [v for v in registry.views if v.is_stream]
    options = SparkStreamOptions(
        checkpoint_dir=settings.data_dir / "spark_checkpoints",
        trigger_seconds=config.trigger_seconds,
        max_rows_per_batch=config.max_rows_per_batch,
    )
    stream = run_spark_stream(
        settings, views, options=options, until_idle=True, spark=pyspark.spark_session,
        idle_timeout_s=config.timeout_seconds,
    )
    context.log.info(f"Spark stream drained the log of {len(views)} view(s) in {stream.batches} micro-batch(es)")


@dg.job(name=SPARK_STREAM_JOB, description="Drain the stream views' event log on Spark, then stop.")
def spark_stream_catch_up_job() -> None:
    spark_stream_catch_up_op()
