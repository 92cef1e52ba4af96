"""Finding a Redis for local use, or starting a private one under the data folder.

Only the demo and the CLI's start-up import this module; loading settings never does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from feature_platform.errors import ConfigError, OnlineStoreUnavailableError
from feature_platform.settings import (
    PRIVATE_REDIS_URL_FILE,
    private_redis_dir,
    recorded_private_redis_url,
)


@dataclass(frozen=True)
class LocalRedis:
    """A Redis for local use and whether this process started it (not to be confused with
    :class:`feature_platform.online.connection.RedisEndpoint`, a parsed Redis URL)."""

    url: str
    started_private: bool


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING at ``url`` (for a cluster URL: the node it names)."""
    node_url = url.replace("+cluster://", "://", 1)
    client = redis.Redis.from_url(node_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_private_redis(data_dir: Path) -> str:
    """Start a daemonized redis-server on a free local port with its files under ``data_dir``.

    It keeps running after this process exits, so the UI and the SDK can read what the
    demo published; its URL is recorded beside its pid file.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise ConfigError(
            "No Redis answers at REDIS_URL and no redis-server binary is installed: install one "
            "(Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`) "
            "or set REDIS_URL to a running Redis"
        )
    workdir = private_redis_dir(data_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    subprocess.run(
        [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
            "--dir", str(workdir), "--pidfile", str(workdir / "redis.pid"),
            "--logfile", str(workdir / "redis.log"), "--save", "", "--appendonly", "no",
        ],
        check=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url, timeout=0.2):
        if time.monotonic() > deadline:
            raise OnlineStoreUnavailableError(
                f"The private redis-server on port {port} did not start; see {workdir / 'redis.log'}"
            )
        time.sleep(0.05)
    (workdir / PRIVATE_REDIS_URL_FILE).write_text(url + "\n")
    return url


def ensure_redis(url: str, data_dir: Path) -> LocalRedis:
    """``url`` if a Redis answers there, else a running private one (reused or started)."""
    if redis_answers(url):
        return LocalRedis(url, started_private=False)
    recorded = recorded_private_redis_url(data_dir)
    if recorded and redis_answers(recorded):
        return LocalRedis(recorded, started_private=False)
    return LocalRedis(start_private_redis(data_dir), started_private=True)
