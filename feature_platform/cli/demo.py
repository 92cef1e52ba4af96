"""`feature-platform demo`."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    """Add the ``demo`` command."""
    demo = commands.add_parser("demo", help="sample data -> dbt -> every feature view offline and online -> reads")
    demo.add_argument("--days", type=int, default=14, help="days of sample events (default 14)")
    demo.add_argument("--users", type=int, default=500, help="sample users (default 500)")
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run the demo end to end."""
    from feature_platform.demo import run_demo

    run_demo(days=args.days, n_users=args.users)
