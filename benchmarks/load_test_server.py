"""Load test of the HTTP feature server on loopback: throughput and latency percentiles.

Starts a private redis-server, publishes the repo's demo views for 10k users, starts the
feature server (``run_server``, with the L1 cache) in a subprocess, then keeps a bounded
number of requests in flight (``--concurrency``) for ``--requests`` requests of the
``churn_model_v1`` feature service (1 entity per request, random users), and prints
throughput and latency percentiles per concurrency level. Client and server share this
machine's cores, so the numbers are a floor for a dedicated server.

Run: ``.venv/bin/python benchmarks/load_test_server.py [--requests 4000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
from _online_data import start_redis

from feature_platform.feature_repo.views import ALL_VIEWS
from feature_platform.online import RedisOnlineStore
from feature_platform_tests.redis_server import free_port

N_USERS = 10_000


def publish(url: str) -> None:
    store = RedisOnlineStore(url)
    rng = np.random.default_rng(3)
    now = datetime.now(UTC)
    for view in ALL_VIEWS:
        frame = {"user_id": np.arange(N_USERS), "event_timestamp": [now - timedelta(minutes=5)] * N_USERS,
                 "created_timestamp": [now] * N_USERS}
        for feature in view.features:
            if feature.allowed_values:
                frame[feature.name] = rng.choice(list(feature.allowed_values), N_USERS)
            elif feature.dtype.value == "int64":
                frame[feature.name] = rng.integers(1, 100, N_USERS)
            elif feature.dtype.value == "float64":
                frame[feature.name] = rng.random(N_USERS) * 100
            else:
                frame[feature.name] = rng.random(N_USERS) > 0.5
        store.write(view, pd.DataFrame(frame))
    store.close()


async def load(url: str, total: int, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    queue = iter(range(total))
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            nonlocal failures
            for _ in queue:
                body = {"entities": {"user_id": [random.randrange(N_USERS)]}, "feature_service": "churn_model_v1"}
                started = time.perf_counter()
                response = await client.post("/get-online-features", json=body)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    redis_server = start_redis()
    port = free_port()
    server = None
    try:
        publish(redis_server.url)
        code = (
            "from feature_platform.settings import Settings\n"
            "from feature_platform.serving.server import run_server\n"
            f"run_server(Settings(data_dir={tempfile.mkdtemp()!r}, redis_url={redis_server.url!r}), port={port})\n"
        )
        server = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the feature server did not start")
            time.sleep(0.1)
        asyncio.run(load(url, 300, 4))  # warm-up
        print(f"feature server load test: POST /get-online-features, service churn_model_v1 "
              f"(3 views, 10 features), 1 entity/request, {args.requests} requests per level")
        print(f"{'concurrency':>11}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for concurrency in args.concurrency:
            seconds, latencies, failures = asyncio.run(load(url, args.requests, concurrency))
            p50, p95, p99 = np.percentile(np.array(latencies) * 1000, [50, 95, 99])
            print(f"{concurrency:>11}{args.requests / seconds:>10,.0f}{p50:>9.2f}{p95:>9.2f}{p99:>9.2f}{failures:>8}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        redis_server.stop()


if __name__ == "__main__":
    main()
