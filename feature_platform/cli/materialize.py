"""Feast's materialization verbs, run through the platform's Dagster instance (so the runs
show up in the UI): `materialize`, `materialize-incremental`, and the resumable `backfill`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from feature_platform.cli.arguments import utc_datetime

if TYPE_CHECKING:
    from tqdm import tqdm


def _bar(bar: tqdm) -> Callable[[int, int], None]:
    """A progress callback that moves ``bar``."""

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return update


def register(commands: Any) -> None:
    """Add the ``materialize``, ``materialize-incremental`` and ``backfill`` commands."""
    materialize = commands.add_parser(
        "materialize", help="materialize views offline and online for every partition in [START, END)"
    )
    materialize.add_argument("start", type=utc_datetime, help="first day/hour (UTC), YYYY-MM-DD[THH:MM]")
    materialize.add_argument("end", type=utc_datetime, help="end, exclusive (UTC)")
    materialize.add_argument("--views", nargs="+", help="only these views (default: all)")
    materialize.set_defaults(run=run_materialize)

    incremental = commands.add_parser(
        "materialize-incremental", help="publish rows created since each view's checkpoint to the online store"
    )
    incremental.add_argument("--views", nargs="+", help="only these views (default: every online view)")
    incremental.set_defaults(run=run_incremental)

    backfill = commands.add_parser(
        "backfill", help="materialize a view's partitions offline and online; resumes where it stopped"
    )
    backfill.add_argument("view")
    backfill.add_argument("--from", dest="start", required=True, type=utc_datetime, help="first day/hour (UTC)")
    backfill.add_argument("--to", dest="end", required=True, type=utc_datetime, help="end, exclusive (UTC)")
    backfill.add_argument("--force", action="store_true", help="redo partitions already published")
    backfill.add_argument(
        "--dry-run", action="store_true",
        help="recompute in memory and compare with the offline store on a sample; write nothing",
    )
    backfill.add_argument("--sample", type=int, default=100, help="entities compared by --dry-run")
    backfill.add_argument("--window", help="off-peak window HH:MM-HH:MM UTC (default: settings backfill.window)")
    backfill.add_argument(
        "--outside-window", choices=["wait", "reduced"],
        help="a large backfill outside the window waits for it or runs at --reduced-rate (default: settings)",
    )
    backfill.add_argument("--reduced-rate", type=float, help="online rows/s outside the window (default: settings, 500)")
    backfill.set_defaults(run=run_backfill)


def run_materialize(args: argparse.Namespace) -> None:
    """One single-run range run per partitioning of the selected views, with a progress bar."""
    from tqdm import tqdm

    from feature_platform.defs import build_definitions
    from feature_platform.defs.backfill import materialize_views
    from feature_platform.defs.instance import platform_instance
    from feature_platform.run_output import output_to_file
    from feature_platform.settings import load_settings

    settings = load_settings()
    registry = settings.load_registry()
    views = [registry.view(name) for name in args.views] if args.views else registry.views
    log_path = settings.logs_dir / "materialize.log"
    with tqdm(unit="partition", desc="materialize") as bar, output_to_file(log_path):
        runs = materialize_views(build_definitions(), platform_instance(settings), views, args.start, args.end, progress=_bar(bar))
    for run in runs:
        print(run)
    print(f"Full log: {log_path}; runs in the Dagster UI (make dev) under Runs")


def run_incremental(args: argparse.Namespace) -> None:
    """The incremental publish job, once, for the selected views."""
    from feature_platform.defs import build_definitions
    from feature_platform.defs.backfill import publish_incrementally
    from feature_platform.defs.instance import platform_instance
    from feature_platform.run_output import output_to_file
    from feature_platform.settings import load_settings

    settings = load_settings()
    log_path = settings.logs_dir / "materialize-incremental.log"
    with output_to_file(log_path):
        lines = publish_incrementally(build_definitions(), platform_instance(settings), args.views)
    for line in lines:
        print(line)
    print(f"Full log: {log_path}")


def run_backfill(args: argparse.Namespace) -> None:
    """A resumable backfill of one view, or with ``--dry-run`` a recompute diff."""
    from feature_platform.settings import load_settings

    settings = load_settings()
    view = settings.load_registry().view(args.view)
    if args.dry_run:
        from feature_platform.materialization import connect_warehouse
        from feature_platform.materialization.backfill import preview_recompute
        from feature_platform.offline import OfflineStore

        warehouse = connect_warehouse(settings.warehouse_path)
        try:
            diff = preview_recompute(
                warehouse, view, OfflineStore(settings.offline_dir), args.start, args.end, sample_entities=args.sample
            )
        finally:
            warehouse.close()
        print(diff.summary())
        for example in diff.examples:
            print(f"  {example}")
        return
    from tqdm import tqdm

    from feature_platform.defs import build_definitions
    from feature_platform.defs.backfill import run_backfill as backfill
    from feature_platform.defs.instance import platform_instance
    from feature_platform.materialization.backfill_window import OffPeak
    from feature_platform.run_output import output_to_file

    flags = {"window": args.window, "outside_window": args.outside_window, "reduced_rate": args.reduced_rate}
    off_peak = OffPeak.from_settings(
        settings.backfill.model_copy(update={name: value for name, value in flags.items() if value}),
        setting="backfill window (--window, backfill.window)",
    )
    log_path = settings.logs_dir / "backfill.log"
    with tqdm(unit="partition", desc=f"backfill {view.name}") as bar, output_to_file(log_path) as terminal:
        backfill(
            build_definitions(), platform_instance(settings), view, args.start, args.end, force=args.force,
            log=lambda line: bar.write(line, file=terminal), progress=_bar(bar), off_peak=off_peak,
        )
    print(f"Full log: {log_path}")
