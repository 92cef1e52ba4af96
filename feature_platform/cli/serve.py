"""`feature-platform serve`."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    """Add the ``serve`` command."""
    serve = commands.add_parser("serve", help="start the HTTP feature server for every configured tenant")
    serve.add_argument("--host", help="default: the settings' server.host (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default: the settings' server.port (6566)")
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Serve until interrupted."""
    from feature_platform.serving.server import run_server
    from feature_platform.settings import load_settings

    run_server(load_settings(), host=args.host, port=args.port)
