"""Load test of the HTTP feature server on loopback: throughput and latency percentiles.

Starts a private redis-server, publishes the repo's demo views for 10k users, starts the
feature server (``run_server``, with the L1 cache) in a subprocess, then drives it with
``wrk`` (Debian package ``wrk``; a C client, so the load generator is not the bottleneck
the way a Python client is): a bounded number of connections (``--concurrency``) for a
bounded time (``--seconds``) per level, requests of the ``churn_model_v1`` feature service
for one random user each, and prints throughput and latency percentiles per level. Client,
server and Redis share this machine's 2 cores, so the numbers are a floor for a dedicated
server.

Run: ``.venv/bin/python benchmarks/load_test_server.py [--seconds 10]``
"""

from __future__ import annotations

import argparse
import os
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


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
math.randomseed(7)
request = function()
  local body = '{"entities": {"user_id": [' .. math.random(0, %d) .. ']}, "feature_service": "churn_model_v1"}'
  return wrk.format(nil, nil, nil, body)
end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number = text.rstrip("usm")
    return float(number) * _UNITS[text[len(number):]]


def run_wrk(url: str, concurrency: int, seconds: int, script: str) -> dict[str, float]:
    """One wrk run (one client thread, ``concurrency`` connections): req/s and percentiles."""
    done = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", script, f"{url}/get-online-features"],
        capture_output=True, text=True, check=True,
    )
    result: dict[str, float] = {"errors": 0.0}
    for line in done.stdout.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            result[parts[0]] = _ms(parts[1])
        elif "Non-2xx" in line or line.strip().startswith("Socket errors"):
            result["errors"] += sum(float(p.rstrip(",")) for p in parts if p.rstrip(",").isdigit())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each level")
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
        script = os.path.join(tempfile.mkdtemp(), "post.lua")
        with open(script, "w") as handle:
            handle.write(WRK_SCRIPT % (N_USERS - 1))
        run_wrk(url, 4, 2, script)  # warm-up
        print(f"feature server load test (wrk, 1 client thread): POST /get-online-features, service "
              f"churn_model_v1 (3 views, 10 features), 1 random entity of {N_USERS:,}/request, "
              f"{args.seconds} s per level")
        print(f"{'concurrency':>11}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for concurrency in args.concurrency:
            r = run_wrk(url, concurrency, args.seconds, script)
            print(f"{concurrency:>11}{r['rps']:>10,.0f}{r['50%']:>9.2f}{r['90%']:>9.2f}{r['99%']:>9.2f}{r['errors']:>8.0f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        redis_server.stop()


if __name__ == "__main__":
    main()
