"""The embedded stream processor (``feature-platform stream``).

One process runs the stream views of a registry over some or all of their sources'
partitions. Per partition it holds a lease (:mod:`.lease`, one owner at a time), reads the
log with a consumer group in bounded batches (first its pending entries, and those it
claimed from a dead owner, then new ones), with one read for all its partitions per round.
It plans each partition's batch (:func:`.batch.plan_batch`), lands the round's batches
offline in one durable commit (:mod:`.landing`), applies each in its own guarded Redis
script, all in one round trip (:mod:`.apply`), and only then acknowledges and trims the
entries of the applied batches. A crash at any point
replays from the last applied position, and the guard makes the replay change nothing
that was already applied.

Rounds are pipelined: while Redis runs one round's scripts, the processor plans and lands
the next (see :meth:`StreamProcessor._pipeline`). Memory stays flat: at most
``max_in_flight`` entries are in flight over both rounds, whatever the input rate. Redis errors are retried with exponential backoff; the processor resumes
where the log says it stopped.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import hiredis
import redis

from feature_platform.errors import ConfigError, OnlineStoreError, OnlineStoreUnavailableError
from feature_platform.online.connection import redact_url, translated_errors
from feature_platform.online.keys import StreamKeys
from feature_platform.online.tenancy import TenantRouting
from feature_platform.online.transport import PackedCommands, RedisTransport
from feature_platform.rows.timestamps import from_micros
from feature_platform.settings import Settings
from feature_platform.specs import FeatureView, StreamSource
from feature_platform.streaming.apply import BatchApplier, apply_results, pack_calls
from feature_platform.streaming.batch import BatchPlan, PartitionState
from feature_platform.streaming.lease import Leases, new_owner_id
from feature_platform.streaming.log import (
    CONSUMER_GROUP,
    LogEvent,
    log_endpoint,
    parse_stream_id,
)
from feature_platform.streaming.micro_batch import (
    BatchOutcome,
    Entries,
    PartitionBatch,
    PreparedRound,
    load_partition_state,
    prepare_round,
    process_round,
    settle_round,
)

logger = logging.getLogger(__name__)

# Errors the processor waits out: Redis down, and Redis refusing a read (a Redis restarted
# without its data has no consumer group until the takeover creates it again).
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OnlineStoreUnavailableError, OnlineStoreError)


@dataclass(frozen=True)
class ProcessorOptions:
    """How the processor reads and how it survives failures.

    ``batch_size``: entries read per partition per round; ``max_in_flight``: entries in
    flight over all partitions, the round being applied and the next one together (the
    memory bound); ``block_ms``: how long a read waits
    for new entries; ``lease_ttl_ms``: a lease's life (renewed every third of it; a dead
    owner's partitions are taken over after it); ``heartbeat_s``: heartbeat period;
    ``progress_interval_s``: minimum time between two ``on_progress`` calls;
    ``backoff_initial_s`` / ``backoff_max_s``: retry delays while Redis is down.
    """

    batch_size: int = 2000
    max_in_flight: int = 20_000
    block_ms: int = 100
    lease_ttl_ms: int = 10_000
    heartbeat_s: float = 1.0
    progress_interval_s: float = 5.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_in_flight", "block_ms", "lease_ttl_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Stream processor option {name} must be >= 1, got {getattr(self, name)}")
        if self.max_in_flight < self.batch_size:
            raise ConfigError(
                f"Stream processor option max_in_flight ({self.max_in_flight}) must be >= batch_size ({self.batch_size})"
            )


@dataclass
class ViewProgress:
    """What the processor did for one view since the previous progress report."""

    applied: int = 0
    shed: int = 0
    newest_event_us: int | None = None


@dataclass
class ProgressReport:
    """Passed to ``on_progress``: per view progress and the totals so far."""

    views: dict[str, ViewProgress]
    owner: str
    partitions: dict[str, list[int]]


@dataclass
class ProcessorReport:
    """What a processor run did, in total."""

    owner: str
    events: int = 0
    applied: int = 0
    dead_lettered: int = 0
    shed: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    replayed_batches: int = 0
    redis_errors: int = 0
    partitions: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class _Partition:
    source: StreamSource
    partition: int
    keys: StreamKeys
    views: list[FeatureView]
    state: PartitionState = field(default_factory=PartitionState)
    owned: bool = False
    drain_pending: bool = True
    backlog: int = 0
    events_since_beat: int = 0

    @property
    def label(self) -> str:
        return f"{self.source.name}:{self.partition}"


def stream_views(views: Sequence[FeatureView]) -> dict[str, list[FeatureView]]:
    """The stream views of ``views`` grouped by source name."""
    by_source: dict[str, list[FeatureView]] = {}
    for view in views:
        if view.is_stream:
            by_source.setdefault(view.stream_source.name, []).append(view)
    return by_source


class StreamProcessor:
    """The processor loop (see the module docstring); :func:`run_processor` is the entry point."""

    def __init__(
        self,
        url: str,
        tenant: str,
        views: Sequence[FeatureView],
        offline_dir: Path,
        *,
        partitions: Mapping[str, Sequence[int]] | None = None,
        options: ProcessorOptions | None = None,
        owner: str | None = None,
        on_progress: Callable[[ProgressReport], None] | None = None,
    ) -> None:
        self.options = options or ProcessorOptions()
        self.endpoint = log_endpoint(url)
        self.tenant = tenant
        self.offline_dir = Path(offline_dir)
        self.owner = owner or new_owner_id()
        self.on_progress = on_progress
        grouped = stream_views(views)
        if not grouped:
            raise ConfigError("No stream views to process: define a FeatureView whose source is a StreamSource")
        self.parts: list[_Partition] = []
        for source_views in grouped.values():
            source = source_views[0].stream_source
            wanted = range(source.partitions) if partitions is None or source.name not in partitions else partitions[source.name]
            for p in wanted:
                if not 0 <= p < source.partitions:
                    raise ConfigError(f"Stream {source.name!r} has partitions 0..{source.partitions - 1}; got {p}")
                self.parts.append(_Partition(source, p, StreamKeys(tenant, source.name), source_views))
        socket_timeout = max(5.0, self.options.block_ms / 1000 + 2.0)
        self.client = redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=2.0)
        # The hot path (reads, batch script, acknowledgements) goes through the online
        # store's transport: hiredis-packed commands, raw replies, no hidden retry of a read.
        self.transport = RedisTransport(
            self.endpoint,
            redis.BlockingConnectionPool.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=2.0, max_connections=4),
        )
        self.leases = Leases(self.client, self.owner, self.options.lease_ttl_ms)
        self.applier = BatchApplier(self.transport)
        self.report = ProcessorReport(self.owner)
        self._progress = {v.name: ViewProgress() for vs in grouped.values() for v in vs}
        self._last_progress = time.monotonic()
        self._last_leases = 0.0
        self._last_beat = time.monotonic()
        self._by_id = {(p.source.name, p.partition): p for p in self.parts}
        # The pipeline (see _pipeline): a round planned and landed but not applied yet, and
        # the acknowledgements of applied batches not sent yet.
        self._carry: PreparedRound | None = None
        self._acks: list[tuple[object, ...]] = []
        # Whether the previous round had work: then the next read does not wait (an idle
        # log is seen at once, e.g. by until_idle), only one after an idle round does.
        self._busy = False

    # -- the loop ----------------------------------------------------------------------

    def run(self, *, until_idle: bool = False, stop: threading.Event | None = None) -> ProcessorReport:
        """Process until ``stop`` is set (or, with ``until_idle``, until every partition is
        owned and has nothing left to read); release the leases on the way out."""
        with batch_friendly_gc():
            return self._run(until_idle, stop or threading.Event())

    def _run(self, until_idle: bool, stop: threading.Event) -> ProcessorReport:
        backoff = self.options.backoff_initial_s
        logger.info("stream processor %s on %s: %d partition(s)", self.owner, redact_url(self.endpoint.url), len(self.parts))
        try:
            while not stop.is_set():
                try:
                    idle = self._round()
                    backoff = self.options.backoff_initial_s
                except _REDIS_DOWN as exc:
                    self.report.redis_errors += 1
                    logger.warning("stream processor %s: Redis unavailable or refusing (%s); retrying in %.1f s", self.owner, exc, backoff)
                    for part in self.parts:
                        part.owned = False  # re-check leases and re-read pending entries when Redis is back
                    # Unsent acknowledgements and an unapplied round: their entries stay
                    # pending and are read again (and skipped if applied) after the takeover.
                    self._carry, self._acks = None, []
                    self._last_leases = 0.0
                    stop.wait(backoff)
                    backoff = min(self.options.backoff_max_s, backoff * 2)
                    continue
                if until_idle and idle and all(p.owned for p in self.parts):
                    break
                if not any(p.owned for p in self.parts):
                    stop.wait(self.options.lease_ttl_ms / 4000)
            self._report_progress(force=True)
        finally:
            # Acknowledge what was applied; a planned round not applied stays pending.
            with suppress(redis.RedisError, OnlineStoreError):
                self._flush_acks()
            with suppress(redis.RedisError):
                for source_parts in self._by_source().values():
                    owned = [p.partition for p in source_parts if p.owned]
                    if owned:
                        self.leases.release(source_parts[0].keys, owned)
            self.client.close()
            self.transport.disconnect()
        return self.report

    def _by_source(self) -> dict[str, list[_Partition]]:
        grouped: dict[str, list[_Partition]] = {}
        for part in self.parts:
            grouped.setdefault(part.source.name, []).append(part)
        return grouped

    def _round(self) -> bool:
        """One round: leases, pending entries, then new entries. Whether nothing was left."""
        now = time.monotonic()
        if now - self._last_leases >= min(self.options.heartbeat_s, self.options.lease_ttl_ms / 3000):
            self._hold_leases()
            self._last_leases = now
        owned = [p for p in self.parts if p.owned]
        if not owned:
            return False
        # Two rounds are in flight at a time (one applying, the next being planned): each
        # reads at most half of max_in_flight.
        per_partition = max(1, min(self.options.batch_size, self.options.max_in_flight // (2 * len(owned))))
        did_work = False
        draining = [p for p in owned if p.drain_pending]
        if draining:
            self._flush_acks()
            by_key = {p.keys.log(p.partition): p for p in draining}
            delivered = self._read_group(list(by_key), "0", per_partition, None)
            batches = []
            for key, part in by_key.items():
                entries = delivered.get(key)
                if entries:
                    batches.append((part, entries))
                else:
                    part.drain_pending = False
            did_work = self._process(batches)
        ready = [p for p in owned if p.owned and not p.drain_pending]
        if ready:
            block = None if did_work or self._busy else self.options.block_ms
            did_work = self._pipeline(ready, per_partition, block) or did_work
        elif self._carry is not None:
            self._carry = None  # every partition of it was lost: the new owners take its entries
        self._report_progress()
        self._busy = did_work
        if did_work:
            return False
        lengths = self._lengths(owned)
        return all(n == 0 for n in lengths)

    def _lengths(self, parts: Sequence[_Partition]) -> list[int]:
        pipe = self.client.pipeline(transaction=False)
        for part in parts:
            pipe.xlen(part.keys.log(part.partition))
        lengths = [int(n) for n in pipe.execute()]
        for part, n in zip(parts, lengths, strict=True):
            part.backlog = n
        return lengths

    # -- leases and takeover -------------------------------------------------------------

    def _hold_leases(self) -> None:
        for source_parts in self._by_source().values():
            keys = source_parts[0].keys
            held = self.leases.hold(keys, [p.partition for p in source_parts])
            for part in source_parts:
                if held[part.partition] and not part.owned:
                    self._take_over(part)
                elif not held[part.partition] and part.owned:
                    logger.warning("stream processor %s lost partition %s", self.owner, part.label)
                    part.owned = False
            self.leases.heartbeat(keys, [p.partition for p in source_parts if p.owned], self.options.heartbeat_s)
            self._record_rates([p for p in source_parts if p.owned])
            self.report.partitions[keys.source] = sorted(p.partition for p in source_parts if p.owned)
        self._lengths([p for p in self.parts if p.owned] or [])

    def _record_rates(self, parts: Sequence[_Partition]) -> None:
        """Store each partition's events/s since the previous heartbeat (for health)."""
        now = time.monotonic()
        elapsed = now - self._last_beat
        self._last_beat = now
        if not parts or elapsed <= 0:
            return
        pipe = self.client.pipeline(transaction=False)
        for part in parts:
            pipe.hset(part.keys.progress(part.partition), "rate", f"{part.events_since_beat / elapsed:.1f}")
            part.events_since_beat = 0
        pipe.execute()

    def _take_over(self, part: _Partition) -> None:
        """Start owning ``part``: its group, the pending entries of former owners, its state."""
        log = part.keys.log(part.partition)
        try:
            self.client.xgroup_create(log, CONSUMER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        # The round pipeline calls the batch script by SHA without the transport's reload.
        self.transport.load_scripts()
        # Entries a former owner read but never acknowledged become ours (it is fenced out).
        cursor: Any = "0-0"
        while True:
            reply = cast(list[Any], self.client.xautoclaim(log, CONSUMER_GROUP, self.owner, 0, start_id=cursor, count=1000))
            cursor = reply[0]
            if cursor in (b"0-0", "0-0"):
                break
        for consumer in cast(list[dict[str, Any]], self.client.xinfo_consumers(log, CONSUMER_GROUP)):
            name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else str(consumer["name"])
            if name != self.owner and int(consumer["pending"]) == 0:
                self.client.xgroup_delconsumer(log, CONSUMER_GROUP, name)
        part.state = self._load_state(part)
        part.owned = True
        part.drain_pending = True
        logger.info("stream processor %s owns partition %s from position %s", self.owner, part.label, part.state.position)

    def _load_state(self, part: _Partition) -> PartitionState:
        return load_partition_state(self.client, part.keys, part.partition)

    # -- one batch -------------------------------------------------------------------------

    def _read_group(self, logs: list[bytes], start: str, count: int, block_ms: int | None) -> dict[bytes, Entries]:
        """``XREADGROUP`` of ``logs`` from ``start`` (``>``: new entries, ``0``: our pending
        ones). Never retried here: a reply lost on the way would leave delivered entries
        pending behind newer ones, so any error sends the processor through a takeover,
        which reads the pending entries first."""
        with translated_errors(self.endpoint, "reading the event log"):
            reply = self.transport.round_trip([self._read_command(logs, start, count, block_ms)])[0]
        return self._delivered(reply)

    def _read_command(self, logs: list[bytes], start: str, count: int, block_ms: int | None) -> list[object]:
        command: list[object] = ["XREADGROUP", "GROUP", CONSUMER_GROUP, self.owner, "COUNT", count]
        if block_ms is not None:
            command += ["BLOCK", block_ms]
        return [*command, "STREAMS", *logs, *([start] * len(logs))]

    @staticmethod
    def _delivered(reply: Any) -> dict[bytes, Entries]:
        out: dict[bytes, Entries] = {}
        # RESP3 answers a map of streams, RESP2 a list of [stream, entries] pairs.
        for key, entries in reply.items() if isinstance(reply, dict) else reply or []:
            # A pending entry trimmed away reads as (id, nil): nothing to apply, nothing to ack.
            out[key] = [(i, f[1]) for i, f in entries if f]
        return out

    def _batch(self, part: _Partition, entries: Entries, state: PartitionState | None = None) -> PartitionBatch:
        shed_lag = part.source.shed_lag
        return PartitionBatch(
            part.source, part.views, part.partition, entries, state or part.state,
            shedding=shed_lag is not None and part.backlog > shed_lag,
        )

    def _process(self, batches: Sequence[tuple[_Partition, Entries]]) -> bool:
        """Process one round's batches together (:func:`.micro_batch.process_round`), then
        acknowledge and trim, in one round trip, the entries of every partition whose batch
        was applied (or had nothing new). Whether there was anything to process."""
        if not batches:
            return False
        prepared = [self._batch(part, entries) for part, entries in batches]
        outcomes = process_round(self.client, self.applier, self.offline_dir, self.tenant, prepared, owner=self.owner)
        self._settle(prepared, outcomes)
        self._flush_acks()
        return True

    def _pipeline(self, ready: list[_Partition], per_partition: int, block_ms: int | None) -> bool:
        """Apply a round of new entries while the next one is read, planned and landed.

        One write sends the acknowledgements of the previous round, a read of the next
        entries and this round's scripts. Redis answers the read first; the processor plans
        and durably lands the next round (from the positions this round will reach) while
        Redis runs the scripts, then reads their verdicts. A partition whose batch was not
        applied as planned (lease lost, a replay) drops its part of the next round: its
        entries stay pending and are read again. Acknowledgements still follow the writes
        they acknowledge. Whether there was anything to process."""
        carry, self._carry = self._carry, None
        by_key = {p.keys.log(p.partition): p for p in ready}
        if carry is not None:
            gone = {key for key, part in self._by_id.items() if part not in ready}
            carry = carry.without(gone) if gone else carry
        if carry is None or not carry.batches:
            delivered = self._read_group(list(by_key), ">", per_partition, block_ms)
            batches = [self._batch(by_key[key], entries) for key, entries in delivered.items() if entries]
            if not batches:
                self._flush_acks()
                return False
            carry = prepare_round(self.client, self.offline_dir, self.tenant, batches)
        live = carry.live_plans
        pack = hiredis.pack_command
        acks = self._acks
        self._acks = []
        commands = PackedCommands(
            b"".join([pack(tuple(c)) for c in acks])  # type: ignore[arg-type]  # hiredis stub types a 1-tuple
            + pack(tuple(self._read_command(list(by_key), ">", per_partition, None)))  # type: ignore[arg-type]
            + pack_calls(live, self.tenant, self.owner).data,
            len(acks) + 1 + len(live),
        )
        after = {(b.source.name, b.partition): plan.after for b, plan in zip(carry.batches, carry.plans, strict=True)}
        upcoming: PreparedRound | None = None
        with self.transport.replies(commands, f"applying a round of {', '.join(p.label for p in ready)}") as read:
            read(len(acks))
            delivered = self._delivered(read(1)[0])
            batches = [
                self._batch(by_key[key], entries, after.get((by_key[key].source.name, by_key[key].partition)))
                for key, entries in delivered.items() if entries
            ]
            if batches:
                upcoming = prepare_round(self.client, self.offline_dir, self.tenant, batches)
            results = apply_results(read(len(live)))
        outcomes = settle_round(self.client, self.applier, self.offline_dir, self.tenant, carry, results, owner=self.owner)
        unsettled = self._settle(carry.batches, outcomes)
        if upcoming is not None and unsettled:
            upcoming = upcoming.without(unsettled)
            for key in unsettled:
                self._by_id[key].drain_pending = True
        self._carry = upcoming if upcoming is not None and upcoming.batches else None
        if self._carry is None:
            self._flush_acks()
        return True

    def _settle(self, batches: Sequence[PartitionBatch], outcomes: Sequence[BatchOutcome]) -> set[tuple[str, int]]:
        """Record each batch's outcome and queue the acknowledgement of every batch that was
        applied (or had nothing new). Returns the partitions whose batch did not end as
        planned (lease lost, or applied again from a reloaded position)."""
        unsettled: set[tuple[str, int]] = set()
        for batch, outcome in zip(batches, outcomes, strict=True):
            key = (batch.source.name, batch.partition)
            part = self._by_id[key]
            self.report.replayed_batches += outcome.replays
            if outcome.lease_lost:
                logger.warning("stream processor %s: lease of %s lost mid-batch; batch left to the new owner", self.owner, part.label)
                part.owned = False
                unsettled.add(key)
                continue
            if outcome.replays:
                unsettled.add(key)
            part.state = outcome.state
            if outcome.plan is not None:
                part.events_since_beat += len(outcome.plan.events)
                self._count(outcome.plan)
            last = parse_stream_id(batch.entries[-1][0])
            log = part.keys.log(part.partition)
            self._acks.append(("XACK", log, CONSUMER_GROUP, *[stream_id for stream_id, _ in batch.entries]))
            self._acks.append(("XTRIM", log, "MINID", "=", f"{last[0]}-{last[1] + 1}"))
        return unsettled

    def _flush_acks(self) -> None:
        if self._acks:
            acks, self._acks = self._acks, []
            self.transport.execute(acks, "acknowledging applied batches")

    def _count(self, plan: BatchPlan) -> None:
        report = self.report
        report.batches += 1
        report.events += len(plan.events)
        report.applied += len(plan.applied)
        report.dead_lettered += len(plan.dead_letters)
        for view_plan in plan.views:
            name = view_plan.view.name
            progress = self._progress[name]
            kept = len(plan.applied) - len(view_plan.shed)
            progress.applied += kept
            progress.shed += len(view_plan.shed)
            if view_plan.shed:
                report.shed[name] = report.shed.get(name, 0) + len(view_plan.shed)
            newest = max((e.event_us for e in plan.applied), default=None)
            if newest is not None and (progress.newest_event_us is None or newest > progress.newest_event_us):
                progress.newest_event_us = newest

    def _report_progress(self, *, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress < self.options.progress_interval_s:
            return
        self._last_progress = now
        views, self._progress = self._progress, {name: ViewProgress() for name in self._progress}
        if any(v.applied or v.shed for v in views.values()):
            self.on_progress(ProgressReport(views, self.owner, dict(self.report.partitions)))


def run_processor(
    settings: Settings,
    views: Sequence[FeatureView] | None = None,
    *,
    partitions: Mapping[str, Sequence[int]] | None = None,
    until_idle: bool = False,
    options: ProcessorOptions | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[ProgressReport], None] | None = None,
    tenant: str | None = None,
    tenants: TenantRouting | None = None,
) -> ProcessorReport:
    """Run the embedded stream processor for ``settings`` (see the module docstring).

    ``views``: stream views to process (default: every stream view of the settings'
    registry); ``partitions``: ``{source: [p, ...]}`` to process only some partitions
    (default: all, shared with other processors through the leases); ``until_idle``:
    return when every partition is owned and drained; ``stop``: set it to stop;
    ``on_progress``: called at most every ``options.progress_interval_s`` with per-view
    progress (a hook for freshness reporting).
    """
    chosen = list(views) if views is not None else settings.load_registry().views
    tenant_name = tenant or settings.tenant
    url = (tenants or TenantRouting()).url_for(tenant_name, settings.redis_url)
    processor = StreamProcessor(
        url, tenant_name, chosen, settings.offline_dir, partitions=partitions,
        options=options or settings.processor_options(), on_progress=on_progress,
    )
    return processor.run(until_idle=until_idle, stop=stop)


_gc_lock = threading.Lock()
_gc_users: list[tuple[int, int, int]] = []  # the thresholds before the first user, once per running processor


@contextmanager
def batch_friendly_gc(young_threshold: int = 10_000) -> Iterator[None]:
    """Python's cycle collector tuned for the processor while it runs: objects that existed
    before are frozen (never traversed again until the end) and the young generation is
    collected every ``young_threshold`` allocations instead of 700. A batch allocates
    tens of thousands of small acyclic objects (events, tuples); with the defaults the
    collector took about a third of the decode and plan time. Processors running at once
    in one process share it: the last one to stop restores the settings."""
    with _gc_lock:
        before = _gc_users[0] if _gc_users else gc.get_threshold()
        if not _gc_users:
            gc.freeze()
            gc.set_threshold(max(young_threshold, before[0]), before[1], before[2])
        _gc_users.append(before)
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users.pop()
            if not _gc_users:
                gc.set_threshold(*before)
                gc.unfreeze()


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM/SIGINT, so ``feature-platform stream`` stops between batches."""
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def describe_event(event: LogEvent) -> str:
    """A short description of an event for logs."""
    return f"{event.stream_id.decode()} at {from_micros(event.event_us).isoformat()}"
