"""One real `dbt build` per test session over a small generated sample plus hand-made rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from feature_platform.sample_data import SampleSummary, generate_sample_data, land_batch
from feature_platform.settings import Settings

END = datetime(2026, 1, 10, tzinfo=UTC)
HAND_USER = 9001
T0 = datetime(2026, 1, 9, 12, tzinfo=UTC)
P0 = datetime(2026, 1, 8, 10, tzinfo=UTC)
US = timedelta(microseconds=1)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class DbtRun:
    """A finished `dbt build`: its settings, output and how long it took."""

    settings: Settings
    summary: SampleSummary
    result: subprocess.CompletedProcess[str]
    target_dir: Path
    seconds: float

    def connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect(str(self.settings.warehouse_path), read_only=True)
        connection.execute("SET TimeZone = 'UTC'")
        return connection


def hand_rows() -> dict[str, pd.DataFrame]:
    """Rows of one extra user whose feature values are worked out by hand in the tests.

    Orders sit exactly on and one microsecond inside the 7- and 30-day window bounds of
    the order at T0; order 9_000_004 arrives late (T0 + 1 h); the T0 order and the plan
    change are delivered twice. Page views form two sessions with one late view.
    """
    orders = pd.DataFrame(
        [
            (9_000_001, T0 - timedelta(days=30), 1.0, T0 - timedelta(days=30) + MINUTE),
            (9_000_002, T0 - timedelta(days=30) + US, 2.0, T0 - timedelta(days=30) + MINUTE),
            (9_000_003, T0 - timedelta(days=7), 4.0, T0 - timedelta(days=7) + MINUTE),
            (9_000_004, T0 - timedelta(days=7) + US, 8.0, T0 + timedelta(hours=1)),
            (9_000_005, T0 - timedelta(hours=1), 16.0, T0 - timedelta(hours=1) + MINUTE),
            (9_000_006, T0, 32.0, T0 + 2 * MINUTE),
            (9_000_006, T0, 32.0, T0 + 10 * MINUTE),
        ],
        columns=["order_id", "ordered_at", "amount", "ingested_at"],
    ).assign(user_id=HAND_USER, items=1)
    signup = T0 - timedelta(days=40)
    users = pd.DataFrame(
        [
            (signup, "free", signup + MINUTE),
            (T0 - timedelta(days=2), "pro", T0 - timedelta(days=2) + MINUTE),
            (T0 - timedelta(days=2), "pro", T0 - timedelta(days=2) + 5 * MINUTE),
        ],
        columns=["updated_at", "plan", "ingested_at"],
    ).assign(user_id=HAND_USER, signup_at=signup, country="JP")
    views = pd.DataFrame(
        [
            (9_000_001, "hand-a", P0, P0 + MINUTE),
            (9_000_002, "hand-a", P0 + timedelta(seconds=10), P0 + timedelta(hours=5)),
            (9_000_003, "hand-a", P0 + timedelta(seconds=70), P0 + timedelta(seconds=71)),
            (9_000_004, "hand-b", P0 + timedelta(minutes=30), P0 + timedelta(minutes=31)),
            (9_000_005, "hand-b", P0 + timedelta(hours=1), P0 + timedelta(hours=1) + MINUTE),
        ],
        columns=["view_id", "session_id", "viewed_at", "ingested_at"],
    ).assign(user_id=HAND_USER, page="/product")
    return {"orders": orders, "users": users, "page_views": views}


@pytest.fixture(scope="session")
def dbt_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtRun]:
    """Generate 60 users x 10 days, land the hand rows, run `dbt build` once into a temp warehouse."""
    root = tmp_path_factory.mktemp("dbt")
    settings = Settings(data_dir=root / "data")
    summary = generate_sample_data(
        settings.landing_dir, end=END, days=10, n_users=60, late_fraction=0.03
    )
    for table, rows in hand_rows().items():
        land_batch(settings.landing_dir, table, rows, batch_id="hand")
    target_dir = root / "target"
    command = [
        str(Path(sys.executable).parent / "dbt"),
        "build",
        "--project-dir",
        str(settings.dbt.project_dir),
        "--profiles-dir",
        str(settings.dbt.project_dir),
        "--target-path",
        str(target_dir),
    ]
    # The test's own target and log folders keep concurrent dbt runs from sharing state.
    env = {**os.environ, **settings.dbt_env(), "DBT_LOG_PATH": str(root / "logs")}
    started = time.perf_counter()
    result = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, cwd=root, timeout=300
    )
    yield DbtRun(settings, summary, result, target_dir, time.perf_counter() - started)
