"""The `feature-platform` command (also `python -m feature_platform`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from feature_platform.errors import FeaturePlatformError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feature-platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="sample data -> dbt -> every feature view offline and online -> reads")
    demo.add_argument("--days", type=int, default=14, help="days of sample events (default 14)")
    demo.add_argument("--users", type=int, default=500, help="sample users (default 500)")

    staleness = commands.add_parser("staleness", help="print each feature view's staleness and alert level")
    staleness.add_argument("--view", action="append", help="only this view (repeatable)")

    backfill = commands.add_parser(
        "backfill", help="materialize a view's partitions offline and online; resumes where it stopped"
    )
    backfill.add_argument("view")
    backfill.add_argument("--from", dest="start", required=True, type=_utc_datetime, help="first day/hour (UTC)")
    backfill.add_argument("--to", dest="end", required=True, type=_utc_datetime, help="end, exclusive (UTC)")
    backfill.add_argument("--force", action="store_true", help="redo partitions already published")
    backfill.add_argument(
        "--dry-run", action="store_true",
        help="recompute in memory and compare with the offline store on a sample; write nothing",
    )
    backfill.add_argument("--sample", type=int, default=100, help="entities compared by --dry-run")

    stream = commands.add_parser(
        "stream", help="run the stream processor: apply pushed events to the online and offline stores"
    )
    stream.add_argument("--view", action="append", help="only this stream view (repeatable; default: all)")
    stream.add_argument(
        "--partition", action="append", type=_partition, metavar="SOURCE:P",
        help="only this partition of a source (repeatable; default: all, shared with other processors)",
    )
    stream.add_argument("--until-idle", action="store_true", help="stop once every partition is drained")
    stream.add_argument("--batch-size", type=int, default=2000, help="entries read per partition per round")
    stream.add_argument(
        "--lease-ttl-ms", type=int, default=10_000,
        help="partition lease life; a dead processor's partitions are taken over after it (default 10000)",
    )
    stream_commands = stream.add_subparsers(dest="stream_command")
    replay = stream_commands.add_parser(
        "replay-dead-letters", help="move a source's dead letters back into its log, to be applied"
    )
    replay.add_argument("--source", required=True, help="the stream source")
    replay.add_argument("--limit", type=int, default=None, help="at most this many (default: all)")
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

    serve = commands.add_parser("serve", help="start the HTTP feature server for every configured tenant")
    serve.add_argument("--host", help="default: settings server.host (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default: settings server.port (6566)")
    return parser


def _utc_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or datetime (YYYY-MM-DD[THH:MM])") from None
    from feature_platform.rows.timestamps import as_utc  # keeps `--help` fast

    return as_utc(value, text)


def _partition(text: str) -> tuple[str, int]:
    source, _, number = text.rpartition(":")
    if not source or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not SOURCE:PARTITION (e.g. page_events:0)")
    return source, int(number)


def _stream(args: argparse.Namespace) -> None:
    import logging

    from feature_platform.settings import load_settings
    from feature_platform.specs import load_registry

    settings = load_settings()
    registry = load_registry(settings.registry)
    views = [registry.view(v) for v in args.view] if args.view else [v for v in registry.views if v.is_stream]
    if args.stream_command == "replay-dead-letters":
        from feature_platform.streaming.dead_letters import replay_dead_letters
        from feature_platform.streaming.push import find_source

        source = find_source(registry.views, args.source)
        moved = replay_dead_letters(settings.redis_url, settings.tenant, source, limit=args.limit)
        print(f"moved {moved} dead letter(s) of {source.name!r} back into its log; run `feature-platform stream` to apply them")
        return
    from feature_platform.streaming.processor import (
        ProcessorOptions,
        run_processor,
        stop_on_signals,
    )

    partitions: dict[str, list[int]] = {}
    for source, number in args.partition or []:
        partitions.setdefault(source, []).append(number)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = ProcessorOptions(
        batch_size=args.batch_size, max_in_flight=max(20_000, args.batch_size), lease_ttl_ms=args.lease_ttl_ms
    )
    with stop_on_signals() as stop:
        report = run_processor(
            settings, views, partitions=partitions or None, until_idle=args.until_idle, options=options, stop=stop
        )
    print(
        f"processed {report.events} event(s): {report.applied} applied, {report.dead_lettered} dead-lettered, "
        f"{sum(report.shed.values())} shed, {report.batches} batch(es)"
    )


def _staleness(views: Sequence[str] | None) -> None:
    from feature_platform.monitoring import collect_staleness, format_staleness_table
    from feature_platform.serving.feature_store import FeatureStore

    store = FeatureStore()
    now = datetime.now(UTC)
    selected = [store.registry.view(v) for v in views] if views else store.registry.views
    from feature_platform.materialization.online_loss import PublishRecords

    records = PublishRecords(store.settings.data_dir, store.settings.tenant)
    reports = [
        collect_staleness(v, store.offline_store, store.online_store, now=now, publish_records=records)
        for v in selected
    ]
    store.close()
    print(format_staleness_table(reports))


def _backfill(args: argparse.Namespace) -> None:
    from feature_platform.settings import load_settings
    from feature_platform.specs import load_registry

    settings = load_settings()
    view = load_registry(settings.registry).view(args.view)
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
    from feature_platform.definitions import defs
    from feature_platform.defs.backfill import run_backfill
    from feature_platform.defs.instance import platform_instance

    instance = platform_instance(settings)
    run_backfill(defs, instance, view, args.start, args.end, force=args.force)


def _rebuild(args: argparse.Namespace) -> None:
    from feature_platform.materialization.rebuild import RebuildOptions, rebuild_online
    from feature_platform.offline import OfflineStore
    from feature_platform.online import RedisOnlineStore
    from feature_platform.settings import load_settings
    from feature_platform.specs import load_registry

    settings = load_settings()
    registry = load_registry(settings.registry)
    views = [registry.view(v) for v in args.view] if args.view else registry.views
    options = RebuildOptions(
        range_entities=args.range_entities, workers=args.workers, max_rows_per_s=args.max_rate,
        min_rows_per_s=args.min_rate, max_read_p99_ms=args.max_read_p99_ms,
    )
    with RedisOnlineStore(settings.redis_url, settings.tenant) as online:
        result = rebuild_online(
            views, OfflineStore(settings.offline_dir), online, settings.data_dir,
            options=options, fresh=args.fresh, log=lambda line: print(line, flush=True),
        )
    p99 = "n/a" if result.read_p99_ms is None else f"{result.read_p99_ms:.2f} ms"
    print(f"rebuild {result.rebuild_id} done: write rate ended at {result.final_rows_per_s:,.0f} rows/s "
          f"after {result.rate_changes} adjustments; online read p99 during the load {p99}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a FeaturePlatformError prints its message and exits 1."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from feature_platform.demo import run_demo

            run_demo(days=args.days, n_users=args.users)
        elif args.command == "staleness":
            _staleness(args.view)
        elif args.command == "backfill":
            _backfill(args)
        elif args.command == "stream":
            _stream(args)
        elif args.command == "rebuild-online":
            _rebuild(args)
        elif args.command == "serve":
            from feature_platform.serving.server import run_server
            from feature_platform.settings import load_settings

            run_server(load_settings(), host=args.host, port=args.port)
    except FeaturePlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
