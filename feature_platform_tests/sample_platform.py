"""A small real platform for tests: sample landing data and a dbt-built warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feature_platform.defs.dbt_assets import dbt_executable
from feature_platform.sample_data import SampleSummary, generate_sample_data
from feature_platform.settings import Settings


def today_midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def sample_end() -> datetime:
    """The midnight (UTC) at least two hours ago: the sample's newest events are then 2 to 26
    hours old whenever the tests run, so freshness expectations (a 15-minute view is late, a
    daily one is not) and 1-day ttls hold at any time of day."""
    return (datetime.now(UTC) - timedelta(hours=2)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class SampleWarehouse:
    """Landing files and a warehouse built by a real `dbt build`, to be copied per test."""

    data_dir: Path
    end: datetime
    days: int
    summary: SampleSummary
    dbt_build_time: timedelta
    """How long the full `dbt build` of the warehouse took (wall clock)."""

    def copy_to(self, data_dir: Path, redis_url: str) -> Settings:
        """Settings over a private copy of the landing data and the warehouse."""
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.data_dir / "landing", data_dir / "landing")
        shutil.copy(self.data_dir / "warehouse.duckdb", data_dir / "warehouse.duckdb")
        return Settings(data_dir=data_dir, redis_url=redis_url)


def dbt_build(settings: Settings, workdir: Path) -> None:
    """Run `dbt build` of the repo's project into ``settings``' warehouse."""
    env = {**os.environ, **settings.dbt_env()}
    command = [
        dbt_executable(), "build", "--project-dir", str(settings.dbt.project_dir),
        "--profiles-dir", str(settings.dbt.project_dir),
        "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"),
    ]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dbt build failed:\n{done.stdout}\n{done.stderr}")


def build_sample_warehouse(data_dir: Path, *, days: int = 3, n_users: int = 40) -> SampleWarehouse:
    settings = Settings(data_dir=data_dir)
    end = sample_end()
    summary = generate_sample_data(settings.landing_dir, end=end, days=days, n_users=n_users)
    started = time.perf_counter()
    dbt_build(settings, data_dir / "dbt")
    built_in = timedelta(seconds=time.perf_counter() - started)
    return SampleWarehouse(settings.data_dir, end, days, summary, built_in)
