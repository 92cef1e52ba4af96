"""Shared fixtures: a private redis-server, a per-test Redis database, a Redis Cluster, one
SparkSession."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from feature_platform.settings import Settings
from feature_platform_tests.redis_cluster import RedisCluster
from feature_platform_tests.redis_server import RedisServer
from feature_platform_tests.sample_platform import SampleWarehouse, build_sample_warehouse

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# Python data sources and UDFs run in Python workers: the interpreter of this test run.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole session, on a free port."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, flushed before each test so tests do not see each other."""
    client = redis_server.client()
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which the test may kill."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One real Redis Cluster (3 masters + 3 replicas, 1 s node timeout) for the session."""
    cluster = RedisCluster(tmp_path_factory.mktemp("redis_cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster: RedisCluster) -> str:
    """The session cluster's ``redis+cluster://`` URL, healthy and emptied before each test."""
    redis_cluster.wait_healthy()
    redis_cluster.flushall()
    return redis_cluster.url


@pytest.fixture(scope="session")
def spark():  # type: ignore[no-untyped-def]
    """One local SparkSession for the whole test run (a cold start costs ~15 s)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("feature_platform_tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> SampleWarehouse:
    """Sample landing data and a warehouse from one real `dbt build`, shared by the session."""
    return build_sample_warehouse(tmp_path_factory.mktemp("sample_warehouse"))


@pytest.fixture
def platform_settings(sample_warehouse: SampleWarehouse, tmp_path: Path, redis_url: str) -> Settings:
    """Settings over this test's own copy of the sample data and warehouse."""
    return sample_warehouse.copy_to(tmp_path / "data", redis_url)
