"""`feature-platform rebuild-online`: the online store rebuilt from the offline store."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    """Add the ``rebuild-online`` command."""
    rebuild = commands.add_parser(
        "rebuild-online",
        help="rebuild the online store from the offline store (after Redis lost data); resumes where it stopped",
    )
    rebuild.add_argument("--view", action="append", help="only this view (repeatable; default every online view)")
    rebuild.add_argument("--fresh", action="store_true", help="discard an interrupted rebuild's progress")
    rebuild.add_argument("--range-entities", type=int, default=10_000, help="entities per key range (default 10000)")
    rebuild.add_argument("--workers", type=int, default=4, help="ranges written in parallel (default 4)")
    rebuild.add_argument("--max-rate", type=float, default=20_000, help="max rows/s written (default 20000)")
    rebuild.add_argument("--min-rate", type=float, default=200, help="rows/s floor when backing off (default 200)")
    rebuild.add_argument(
        "--max-read-p99-ms", type=float, default=5.0, help="back off while online read p99 exceeds this (default 5)"
    )
    rebuild.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Rebuild the selected views' online values, backing off while reads suffer."""
    from feature_platform.materialization.rebuild import RebuildOptions, rebuild_online
    from feature_platform.offline import OfflineStore
    from feature_platform.online import RedisOnlineStore
    from feature_platform.settings import load_settings

    settings = load_settings()
    registry = settings.load_registry()
    views = [registry.view(v) for v in args.view] if args.view else registry.views
    options = RebuildOptions(
        range_entities=args.range_entities, workers=args.workers, max_rows_per_s=args.max_rate,
        min_rows_per_s=args.min_rate, max_read_p99_ms=args.max_read_p99_ms,
    )
    with RedisOnlineStore(settings.redis_url, settings.tenant, **settings.online_timeouts(batch_reads=True)) as online:
        result = rebuild_online(
            views, OfflineStore(settings.offline_dir), online, settings.data_dir,
            options=options, fresh=args.fresh, log=lambda line: print(line, flush=True),
        )
    p99 = "n/a" if result.read_p99_ms is None else f"{result.read_p99_ms:.2f} ms"
    print(f"rebuild {result.rebuild_id} done: write rate ended at {result.final_rows_per_s:,.0f} rows/s "
          f"after {result.rate_changes} adjustments; online read p99 during the load {p99}")
