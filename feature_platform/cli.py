"""The `feature-platform` command (also `python -m feature_platform`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from feature_platform.errors import FeaturePlatformError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feature-platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="sample data -> dbt -> every feature view offline and online -> reads")
    demo.add_argument("--days", type=int, default=14, help="days of sample events (default 14)")
    demo.add_argument("--users", type=int, default=500, help="sample users (default 500)")

    serve = commands.add_parser("serve", help="start the HTTP feature server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=6566)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a FeaturePlatformError prints its message and exits 1."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from feature_platform.demo import run_demo

            run_demo(days=args.days, n_users=args.users)
        elif args.command == "serve":
            from feature_platform.serving.server import run_server
            from feature_platform.settings import load_settings

            run_server(load_settings(), host=args.host, port=args.port)
    except FeaturePlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
