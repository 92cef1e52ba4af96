"""`feature-platform stream` (and `stream replay-dead-letters`): the stream processor."""

from __future__ import annotations

import argparse
from typing import Any


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
    stream.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Process the selected stream views, or replay a source's dead letters."""
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
