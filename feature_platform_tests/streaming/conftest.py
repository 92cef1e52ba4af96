"""Fixtures of the streaming tests: settings over a temp folder and real processor processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from feature_platform.settings import Settings

REGISTRY = "feature_platform_tests.streaming.repo:registry"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stream_settings(tmp_path: Path, redis_url: str) -> Settings:
    """Settings over a temp data folder, the session Redis and the streaming test repo."""
    return Settings(data_dir=tmp_path / "data", redis_url=redis_url, registry=REGISTRY)


def processor_env(settings: Settings) -> dict[str, str]:
    """The environment of a `python -m feature_platform stream` subprocess for ``settings``."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        FEATURE_PLATFORM_HOME=str(settings.data_dir),
        REDIS_URL=settings.redis_url,
        FEATURE_PLATFORM_REGISTRY=settings.registry,
        FEATURE_PLATFORM_TENANT=settings.tenant,
    )
    return env


Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn_processor() -> Iterator[Spawn]:
    """Start `python -m feature_platform stream ...` processes; all are killed after the test."""
    started: list[subprocess.Popen[str]] = []

    def spawn(settings: Settings, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "feature_platform", "stream", *args],
            env=processor_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
