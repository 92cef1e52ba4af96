"""`feature-platform online ...`: generations of a view's online values (bug fix with atomic swap).

* ``online publish-generation VIEW``: load the offline store's values into a new generation,
  validate a sample against the offline store, flip readers to it; the old generation is
  kept for ``--retention-hours`` (default ``online_write.generation_retention``, 7 days);
* ``online rollback VIEW``: serve the previous generation again;
* ``online generations VIEW``: which generation is served, which one a rollback returns to.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any


def register(commands: Any) -> None:
    """Add the ``online`` command and its sub-commands."""
    online = commands.add_parser("online", help="generations of a view's online values: swap, rollback, show")
    subcommands = online.add_subparsers(dest="online_command", required=True, metavar="SUBCOMMAND")
    publish = subcommands.add_parser(
        "publish-generation",
        help="publish the offline store's values of VIEW into a new generation, validate a sample, flip readers to it",
    )
    publish.add_argument("view")
    publish.add_argument("--sample-size", type=int, default=1_000, help="entities validated against the offline store")
    publish.add_argument(
        "--max-mismatch-rate", type=float, default=0.0,
        help="share of sampled entities allowed to disagree with the offline store (default 0)",
    )
    publish.add_argument("--batch-rows", type=int, default=1_000, help="rows per write call (default 1000)")
    _retention_argument(publish, "how long the replaced generation stays for a rollback")
    publish.set_defaults(run=run_publish)
    rollback = subcommands.add_parser("rollback", help="serve VIEW's previous generation again")
    rollback.add_argument("view")
    _retention_argument(rollback, "how long the generation rolled back from stays (to undo the rollback)")
    rollback.set_defaults(run=run_rollback)
    show = subcommands.add_parser("generations", help="VIEW's served and previous generations")
    show.add_argument("view")
    show.set_defaults(run=run_generations)


def _retention_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--retention-hours", type=float, default=None,
        help=f"{what} (default: the setting online_write.generation_retention, 7 days)",
    )


def _retention(args: argparse.Namespace, default: timedelta) -> timedelta:
    from feature_platform.errors import ConfigError

    if args.retention_hours is None:
        return default
    if args.retention_hours <= 0:
        raise ConfigError(f"--retention-hours must be > 0, got {args.retention_hours}")
    return timedelta(hours=args.retention_hours)


def run_publish(args: argparse.Namespace) -> None:
    """Swap the view's online values for the offline store's, after validating them."""
    from feature_platform.materialization.generations import publish_generation
    from feature_platform.offline import OfflineStore
    from feature_platform.online import RedisOnlineStore
    from feature_platform.settings import load_settings
    from feature_platform.specs import load_registry

    settings = load_settings()
    view = load_registry(settings.registry).view(args.view)
    with RedisOnlineStore(settings.redis_url, settings.tenant) as online:
        swap = publish_generation(
            view, OfflineStore(settings.offline_dir), online, sample_size=args.sample_size,
            max_mismatch_rate=args.max_mismatch_rate, batch_rows=args.batch_rows,
            retention=_retention(args, settings.online_write.generation_retention),
            log=lambda line: print(line, flush=True),
        )
    print(f"roll back with: feature-platform online rollback {view.name} (until {swap.state.previous_until:%Y-%m-%d %H:%M} UTC)")


def run_rollback(args: argparse.Namespace) -> None:
    """Serve the view's previous generation again."""
    from feature_platform.materialization.generations import rollback_generation
    from feature_platform.online import RedisOnlineStore
    from feature_platform.settings import load_settings
    from feature_platform.specs import load_registry

    settings = load_settings()
    view = load_registry(settings.registry).view(args.view)
    with RedisOnlineStore(settings.redis_url, settings.tenant) as online:
        state = rollback_generation(view, online, retention=_retention(args, settings.online_write.generation_retention))
    print(f"{view.name}: generation {state.current} served again; generation {state.previous} kept until "
          f"{state.previous_until:%Y-%m-%d %H:%M} UTC (roll back again to undo)")


def run_generations(args: argparse.Namespace) -> None:
    """Print the view's served and previous generations."""
    from feature_platform.online import RedisOnlineStore
    from feature_platform.settings import load_settings
    from feature_platform.specs import load_registry

    settings = load_settings()
    view = load_registry(settings.registry).view(args.view)
    with RedisOnlineStore(settings.redis_url, settings.tenant) as online:
        state = online.generations(view)
        served_keys = online.generation_size(view, state.current)
        previous_keys = None if state.previous is None else online.generation_size(view, state.previous)
    print(f"{view.name}: generation {state.current} served ({served_keys} keys)"
          + (f", since {state.flipped_at:%Y-%m-%d %H:%M} UTC" if state.flipped_at else ""))
    if state.previous is None:
        print("no previous generation (nothing to roll back to)")
    else:
        print(f"previous: generation {state.previous} ({previous_keys} keys left), kept until "
              f"{state.previous_until:%Y-%m-%d %H:%M} UTC")
