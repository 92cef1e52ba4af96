"""The Spark Structured Streaming engine against the embedded processor (real Spark, real Redis).

Both engines process the same log (the same entries under the same stream ids, copied into
two tenants' namespaces) with different batch boundaries; online state, dead letters,
landings and counters must be identical. Then a Spark driver is killed mid-stream and
restarted from its checkpoint: nothing is lost and nothing counts twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import redis
from pyspark.sql import SparkSession

from feature_platform.online.keys import StreamKeys
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.settings import Settings
from feature_platform.streaming.dead_letters import iter_dead_letters
from feature_platform.streaming.health import read_stream_health
from feature_platform.streaming.landing import read_landed_events
from feature_platform.streaming.processor import ProcessorOptions, run_processor
from feature_platform.streaming.spark.job import SparkStream, SparkStreamOptions
from feature_platform_tests.streaming.conftest import REGISTRY, processor_env
from feature_platform_tests.streaming.helpers import burst, click, copy_log, totals
from feature_platform_tests.streaming.repo import clicks, registry, user_clicks

pytestmark = pytest.mark.slow

_LANDING_ONLY = ["_landed_us"]  # when a row landed differs between engines by nature


def _events(now: datetime) -> list[dict[str, Any]]:
    """A burst with out-of-order events inside the lateness, events beyond the watermark and
    exact duplicates (same row twice in one push: same event and created time)."""
    rows = burst(now, 1200, 40, seed=11)
    late = [click(u, now - timedelta(minutes=40), "late", 3.0, 3) for u in range(0, 40, 3)]
    duplicates = [dict(r) for r in rows[100:160]]
    return rows[:600] + late[:7] + rows[600:] + duplicates + late[7:]


def _online(settings: Settings, users: list[int], at: datetime) -> pd.DataFrame:
    store = FeatureStore(settings, registry=registry())
    try:
        features = [f"user_clicks:{f}" for f in user_clicks.feature_names]
        return store.get_online_features([{"user_id": u} for u in users], features, now=at).to_df()
    finally:
        store.close()


def _dead_letters(client: redis.Redis, tenant: str) -> list[tuple[int, bytes, str, int]]:
    """The dead letters of a tenant, in log order per partition (partitions share the stream
    in the order their batches happened to run)."""
    letters = iter_dead_letters(client, StreamKeys(tenant, clicks.name))
    return sorted((d.event.partition, d.event.stream_id, d.reason, d.watermark_us) for d in letters)


def _landed(settings: Settings) -> pa.Table:
    table = read_landed_events(settings.offline_dir, settings.tenant, clicks)
    return table.drop_columns(_LANDING_ONLY)


def _spark_stream(spark: SparkSession, settings: Settings, checkpoint: Path, max_rows: int) -> SparkStream:
    return SparkStream(
        spark,
        settings.redis_url,
        settings.tenant,
        [user_clicks],
        settings.offline_dir,
        SparkStreamOptions(checkpoint_dir=checkpoint, trigger_seconds=0.5, max_rows_per_batch=max_rows),
    ).start()


def test_spark_and_embedded_engines_give_identical_state_dead_letters_and_landings(
    spark: SparkSession, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    embedded = Settings(data_dir=tmp_path / "embedded", redis_url=redis_url, registry=REGISTRY, tenant="embedded")
    on_spark = Settings(data_dir=tmp_path / "spark", redis_url=redis_url, registry=REGISTRY, tenant="spark")
    now = datetime.now(UTC).replace(microsecond=0)
    rows = _events(now)
    pusher = FeatureStore(embedded, registry=registry())
    for start in range(0, len(rows), 250):
        pusher.push("clicks", rows[start : start + 250])
    pusher.close()
    assert copy_log(redis_client, "embedded", "spark") == len(rows)

    run_processor(embedded, [user_clicks], until_idle=True, options=ProcessorOptions(batch_size=37, lease_ttl_ms=2000, block_ms=20))
    stream = _spark_stream(spark, on_spark, tmp_path / "checkpoints", max_rows=300)
    try:
        partitions = [p for source in read_stream_health(redis_url, "spark", [clicks]) for p in source.partitions]
        assert len(partitions) == clicks.partitions
        assert all(p.owner == stream.owner and p.owner_alive for p in partitions), partitions
        assert stream.wait_until_idle(240), "the Spark engine did not drain the log"
    finally:
        stream.stop()
    # Bounded micro-batches: admission control held every batch to max_rows_per_batch.
    sizes = [p["numInputRows"] for q in stream.queries for p in q.recentProgress]
    assert sizes and max(sizes) <= 300
    assert stream.batches >= len(rows) // 300

    counters = totals(redis_client, "embedded")
    assert counters["events"] == len(rows) and counters["late"] >= 7
    assert totals(redis_client, "spark") == counters
    letters = _dead_letters(redis_client, "embedded")
    assert len(letters) == counters["late"]
    assert _dead_letters(redis_client, "spark") == letters
    assert _landed(on_spark).equals(_landed(embedded))
    users = sorted({r["user_id"] for r in rows})
    for at in (now, now + timedelta(minutes=3), now + timedelta(minutes=30)):
        pd.testing.assert_frame_equal(_online(on_spark, users, at), _online(embedded, users, at))


def test_a_killed_spark_driver_restarts_from_its_checkpoint_without_loss_or_double_counting(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_url, registry=REGISTRY)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = burst(now, 6000, 80, seed=5)
    store = FeatureStore(settings, registry=registry())
    for start in range(0, len(rows), 500):
        store.push("clicks", rows[start : start + 500])
    args = [
        sys.executable, "-m", "feature_platform", "stream", "--engine", "spark", "--master", "local[2]",
        "--trigger-seconds", "0.5", "--max-rows-per-batch", "200", "--checkpoint-dir", str(tmp_path / "checkpoints"),
    ]
    env = processor_env(settings) | {"PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    log = tmp_path / "driver.log"
    with log.open("w") as out:
        driver = subprocess.Popen(args, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        # A cold JVM, session and first Python worker take 30-60 s on 2 idle cores.
        deadline = time.monotonic() + 400
        while totals(redis_client, "default").get("events", 0) < 1000:
            assert driver.poll() is None, f"the Spark driver exited early: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the Spark driver processed nothing: {log.read_text()[-3000:]}"
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its Python workers, mid-stream
        driver.wait()
    processed = totals(redis_client, "default")["events"]
    assert processed < len(rows), "the driver finished before it was killed: the test proves nothing"

    restarted = subprocess.run([*args, "--until-idle"], check=False, env=env, capture_output=True, text=True, timeout=600)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert totals(redis_client, "default") == {"events": len(rows), "late": 0, "replayed": 0}
    landed = read_landed_events(settings.offline_dir, settings.tenant, clicks)
    assert landed.num_rows == len(rows) and not any(landed.column("_late").to_pylist())
    # Every window aggregate equals its recomputation from the landed events: a batch applied
    # twice would count twice online but once offline (landings are unique per log position).
    users = sorted({r["user_id"] for r in rows})
    at = datetime.now(UTC)
    features = [f"user_clicks:{f}" for f in user_clicks.feature_names]
    online = store.get_online_features([{"user_id": u} for u in users], features, now=at).to_df(include_metadata=False)
    entity_df = pd.DataFrame({"user_id": users, "event_timestamp": [at] * len(users)})
    offline = store.get_historical_features(entity_df, features, inclusive=True)
    for feature in user_clicks.feature_names:
        assert [None if pd.isna(v) else v for v in online[feature]] == [None if pd.isna(v) else v for v in offline[feature]], feature
    store.close()


def test_the_dagster_catch_up_job_drains_the_log_on_spark(
    spark: SparkSession, stream_settings: Settings, redis_client: redis.Redis
) -> None:
    from feature_platform.defs.resources import FeaturePlatformResource, spark_resource
    from feature_platform.defs.spark_stream import spark_stream_catch_up_job

    rows = burst(datetime.now(UTC), 400, 30, seed=2)
    store = FeatureStore(stream_settings, registry=registry())
    store.push("clicks", rows)
    store.close()
    platform = FeaturePlatformResource(
        data_dir=str(stream_settings.data_dir), redis_url=stream_settings.redis_url, registry=REGISTRY
    )
    result = spark_stream_catch_up_job.execute_in_process(
        resources={"feature_platform": platform, "pyspark": spark_resource()},
        run_config={"ops": {"spark_stream_catch_up_op": {"config": {"trigger_seconds": 0.5, "timeout_seconds": 300}}}},
    )
    assert result.success
    assert totals(redis_client, "default") == {"events": len(rows), "late": 0, "replayed": 0}
    assert (stream_settings.data_dir / "spark_checkpoints" / "default" / "clicks" / "commits").is_dir()
