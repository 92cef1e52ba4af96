"""A real feature server (uvicorn in a thread, on a free port) over a real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from feature_platform_tests.redis_server import free_port


class RunningServer:
    """uvicorn serving an app on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the feature server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def start_server() -> Iterator[Callable[[Any], RunningServer]]:
    """Start servers for apps; every one is stopped after the test."""
    servers: list[RunningServer] = []

    def start(app: Any) -> RunningServer:
        servers.append(RunningServer(app).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
