"""`feature-platform serve`."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    """Add the ``serve`` command."""
    serve = commands.add_parser("serve", help="start the HTTP feature server for every configured tenant")
    serve.add_argument("--host", help="default: the settings' server.host (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default: the settings' server.port (6566)")
    serve.add_argument(
        "--read-timeout", type=float, metavar="SECONDS",
        help="longest wait for Redis's reply to a read; past it the read answers 503 "
        "(default: the settings' online_read.read_timeout_s, 0.25)",
    )
    serve.add_argument(
        "--connect-timeout", type=float, metavar="SECONDS",
        help="TCP connect timeout of reads (default: the settings' online_read.connect_timeout_s, 0.1)",
    )
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Serve until interrupted."""
    from feature_platform.serving.server import run_server
    from feature_platform.settings import load_settings

    settings = load_settings()
    flags = {"read_timeout_s": args.read_timeout, "connect_timeout_s": args.connect_timeout}
    changes = {name: value for name, value in flags.items() if value is not None}
    if changes:
        settings = settings.with_overrides(online_read={**settings.online_read.model_dump(), **changes})
    run_server(settings, host=args.host, port=args.port)
