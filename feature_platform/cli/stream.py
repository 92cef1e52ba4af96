"""`feature-platform stream` (and `stream replay-dead-letters`): the stream processor."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feature_platform.errors import ConfigError

if TYPE_CHECKING:
    from feature_platform.settings import Settings
    from feature_platform.specs import FeatureView
    from feature_platform.streaming.processor import ProgressReport


def _partition(text: str) -> tuple[str, int]:
    source, _, number = text.rpartition(":")
    if not source or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not SOURCE:PARTITION (e.g. page_events:0)")
    return source, int(number)


def register(commands: Any) -> None:
    """Add the ``stream`` command and its ``replay-dead-letters`` sub-command."""
    stream = commands.add_parser(
        "stream", help="run the stream processor: apply pushed events to the online and offline stores"
    )
    stream.add_argument("--view", action="append", help="only this stream view (repeatable; default: all)")
    stream.add_argument(
        "--partition", action="append", type=_partition, metavar="SOURCE:P",
        help="only this partition of a source (repeatable; default: all, shared with other processors)",
    )
    stream.add_argument("--until-idle", action="store_true", help="stop once every partition is drained")
    stream.add_argument(
        "--batch-size", type=int, help="entries read per partition per round (default: stream.processor.batch_size)"
    )
    stream.add_argument(
        "--max-in-flight", type=int,
        help="entries in flight over all partitions (two pipelined rounds), the memory bound (default: stream.processor.max_in_flight)",
    )
    stream.add_argument(
        "--lease-ttl-ms", type=int,
        help="partition lease life; a dead processor's partitions are taken over after it "
        "(default: stream.processor.lease_ttl_ms)",
    )
    stream.add_argument(
        "--engine", choices=["embedded", "spark"], default="embedded",
        help="embedded (one machine) or spark (Structured Streaming; local[*] unless --master or spark.master)",
    )
    stream.add_argument("--master", help="spark engine: the Spark master URL")
    stream.add_argument(
        "--checkpoint-dir", type=Path,
        help="spark engine: query checkpoints (default: stream.spark.checkpoint_dir, else <data dir>/spark_checkpoints)",
    )
    stream.add_argument(
        "--trigger-seconds", type=float, help="spark engine: micro-batch interval (default: stream.spark.trigger_seconds)"
    )
    stream.add_argument(
        "--max-rows-per-batch", type=int,
        help="spark engine: rows per micro-batch at most (default: stream.spark.max_rows_per_batch)",
    )
    stream_commands = stream.add_subparsers(dest="stream_command")
    replay = stream_commands.add_parser(
        "replay-dead-letters", help="move a source's dead letters back into its log, to be applied"
    )
    replay.add_argument("--source", required=True, help="the stream source")
    replay.add_argument("--limit", type=int, default=None, help="at most this many (default: all)")
    stream.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Process the selected stream views, or replay a source's dead letters."""
    import logging

    from feature_platform.settings import load_settings

    settings = load_settings()
    registry = settings.load_registry()
    views = [registry.view(v) for v in args.view] if args.view else [v for v in registry.views if v.is_stream]
    if args.stream_command == "replay-dead-letters":
        from feature_platform.streaming.dead_letters import replay_dead_letters
        from feature_platform.streaming.push import find_source

        source = find_source(registry.views, args.source)
        moved = replay_dead_letters(settings.redis_url, settings.tenant, source, limit=args.limit)
        print(f"moved {moved} dead letter(s) of {source.name!r} back into its log; run `feature-platform stream` to apply them")
        return
    if args.engine == "spark":
        _spark_stream(args, settings, views)
        return
    from feature_platform.streaming.processor import run_processor, stop_on_signals

    partitions: dict[str, list[int]] = {}
    for source, number in args.partition or []:
        partitions.setdefault(source, []).append(number)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    flags = {"batch_size": args.batch_size, "max_in_flight": args.max_in_flight, "lease_ttl_ms": args.lease_ttl_ms}
    changes = {name: value for name, value in flags.items() if value is not None}
    if args.batch_size is not None and args.max_in_flight is None:
        # A larger batch than the configured bound raises the bound with it.
        changes["max_in_flight"] = max(settings.stream.processor.max_in_flight, args.batch_size)
    options = settings.processor_options(**changes)
    with stop_on_signals() as stop:
        report = run_processor(
            settings, views, partitions=partitions or None, until_idle=args.until_idle, options=options, stop=stop,
            on_progress=_dagster_reporter(settings, views),
        )
    print(
        f"processed {report.events} event(s): {report.applied} applied, {report.dead_lettered} dead-lettered, "
        f"{sum(report.shed.values())} shed, {report.batches} batch(es)"
    )


def _spark_stream(args: argparse.Namespace, settings: Settings, views: Sequence[FeatureView]) -> None:
    if args.partition:
        raise ConfigError("--partition is for the embedded engine: the Spark engine owns every partition of its sources")
    from feature_platform.streaming.processor import stop_on_signals
    from feature_platform.streaming.spark.job import run_spark_stream, spark_session

    flags = {
        "checkpoint_dir": args.checkpoint_dir, "trigger_seconds": args.trigger_seconds,
        "max_rows_per_batch": args.max_rows_per_batch,
    }
    options = settings.spark_stream_options(**{name: value for name, value in flags.items() if value is not None})
    with stop_on_signals() as stop:
        stream = run_spark_stream(
            settings, views, options=options, until_idle=args.until_idle, stop=stop, spark=spark_session(args.master)
        )
    print(f"spark stream stopped after {stream.batches} micro-batch(es)")


def _dagster_reporter(settings: Settings, views: Sequence[FeatureView]) -> Callable[[ProgressReport], None] | None:
    """Runless materializations of the stream views into the platform's Dagster instance (the
    one `make dev` shows), so their freshness policies follow the stream; None without the
    ``[dagster]`` extra."""
    try:
        from feature_platform.defs.instance import platform_instance
        from feature_platform.defs.streams import progress_reporter
    except ImportError:
        return None
    return progress_reporter(views, platform_instance(settings))
