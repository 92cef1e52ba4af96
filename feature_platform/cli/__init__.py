"""The `feature-platform` command (also `python -m feature_platform`).

Each command lives in a module of this package with a ``register(commands)`` function that
adds its sub-parser and sets ``run`` to the function that carries it out; :data:`COMMANDS`
lists those modules in help order. Heavy imports happen inside the commands, so ``--help``
stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from feature_platform.cli import (
    demo,
    inspect,
    materialize,
    monitor,
    online,
    recovery,
    serve,
    stream,
)
from feature_platform.errors import FeaturePlatformError

COMMANDS: tuple[ModuleType, ...] = (demo, inspect, materialize, stream, recovery, online, monitor, serve)


def parser() -> argparse.ArgumentParser:
    """The command line of every registered command."""
    root = argparse.ArgumentParser(prog="feature-platform", description="An ML feature store orchestrated by Dagster.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a FeaturePlatformError prints its message and exits 1."""
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except FeaturePlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
