"""A real HTTP server on 127.0.0.1 that records the JSON bodies posted to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookServer:
    """Answers each POST with the next status of ``statuses`` (then 202), or, with ``hang``,
    holds the connection without answering until the server stops. Error answers carry
    ``Retry-After: <retry_after>`` when it is given."""

    def __init__(self, statuses: list[int] | None = None, hang: bool = False, retry_after: str | None = None) -> None:
        self.statuses = list(statuses or [])
        self.hang = hang
        self.retry_after = retry_after
        self.bodies: list[dict[str, object]] = []
        self.requests = 0
        self._release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    server.requests += 1
                    status = server.statuses.pop(0) if server.statuses else 202
                if server.hang:
                    server._release.wait(30)
                    return
                with server._lock:
                    if status < 300:
                        server.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status >= 300 and server.retry_after is not None:
                    self.send_header("Retry-After", server.retry_after)
                self.end_headers()
                self.wfile.write(b'{"status": "ok"}' if status < 300 else b'{"status": "error"}')

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v2/enqueue"

    def start(self) -> WebhookServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def webhook_server(
    statuses: list[int] | None = None, hang: bool = False, retry_after: str | None = None
) -> Iterator[WebhookServer]:
    server = WebhookServer(statuses, hang, retry_after).start()
    try:
        yield server
    finally:
        server.stop()
