"""Bug fix with atomic swap (the seed's backfill scenario 3): publish a corrected view into
a new online generation, validate it, flip readers to it, keep the old one for rollback.

1. :func:`load_generation`: a new generation of the view (nothing reads it) gets the newest
   offline row of every entity still within the ttl, through the store's compare-and-set
   writes, while the served generation goes on serving.
2. :func:`finish_generation`: a seeded sample of entities is read from the new generation
   and compared with the offline store's point-in-time answer
   (:func:`~feature_platform.materialization.consistency.compare_online_offline`). If it
   disagrees beyond ``max_mismatch_rate``, the new generation is dropped, the served one is
   untouched, and :class:`GenerationValidationError` says what differed. Otherwise one
   atomic write of the view's generation hash flips readers to the new generation, and the
   old generation's keys get ``retention`` (default 7 days) as their expiry: until then
   :func:`rollback_generation` serves it again.

Publishes running meanwhile keep writing to the generation served when they start, so
pause the view's schedules (or rerun its latest partition after the flip).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from feature_platform.errors import GenerationError
from feature_platform.materialization.consistency import ConsistencyReport, compare_online_offline
from feature_platform.materialization.rebuild import latest_offline_rows
from feature_platform.offline import OfflineStore
from feature_platform.online import RedisOnlineStore
from feature_platform.online.generations import DEFAULT_RETENTION, GenerationState
from feature_platform.specs import FeatureView

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_SIZE = 1_000
SWAP_MAX_MISMATCH_RATE = 0.0
"""A generation just loaded from the offline store must agree with it on every sampled entity."""


class GenerationValidationError(GenerationError):
    """A new generation disagreed with the offline store on its sample: it was dropped and
    the served generation is unchanged."""

    def __init__(self, view: str, generation: int, served: int, report: ConsistencyReport, max_rate: float) -> None:
        self.report = report
        first = "; ".join(", ".join(f"{k}={v}" for k, v in sample.items()) for sample in report.samples[:3])
        super().__init__(
            f"Generation {generation} of {view!r} failed validation against the offline store: of "
            f"{report.checked} sampled entities {report.mismatched} mismatched, {report.missing} missing and "
            f"{report.extra} extra (allowed rate {max_rate:g}); first: {first or '-'}. Generation {served} is "
            f"still served; generation {generation} was dropped. Fix the offline data, then publish again"
        )


@dataclass(frozen=True)
class LoadedGeneration:
    """A generation loaded beside the served one, not yet validated nor served."""

    view: str
    generation: int
    served: int
    entities: int
    written: int


@dataclass(frozen=True)
class GenerationSwap:
    """A finished swap: the generation now served, the one kept for rollback until
    ``state.previous_until``, and the validation that allowed it."""

    loaded: LoadedGeneration
    report: ConsistencyReport
    state: GenerationState
    retired_keys: int

    def summary(self) -> str:
        """One line for the log and the CLI."""
        until = self.state.previous_until.isoformat() if self.state.previous_until else "-"
        return (
            f"{self.loaded.view}: generation {self.loaded.generation} served ({self.loaded.entities} entities, "
            f"validated on {self.report.checked} sampled entities); generation {self.loaded.served} kept for "
            f"rollback until {until} ({self.retired_keys} keys)"
        )


def load_generation(
    view: FeatureView,
    offline_store: OfflineStore,
    online_store: RedisOnlineStore,
    *,
    now: datetime | None = None,
    batch_rows: int = 1_000,
    log: Callable[[str], None] = logger.info,
) -> LoadedGeneration:
    """Load the newest offline row per entity of ``view`` into a new generation (readers
    still read the served one)."""
    now = now or datetime.now(UTC)
    served = online_store.generation(view)
    generation = online_store.new_generation(view)
    target = online_store.pinned(view, generation)
    rows, _ = latest_offline_rows(view, offline_store, now)
    log(f"{view.name}: loading {rows.num_rows} entities into generation {generation} (generation {served} is served)")
    written = 0
    try:
        for offset in range(0, rows.num_rows, batch_rows):
            written += target.publish(view, rows.slice(offset, batch_rows), now=now).written
    except BaseException:
        # A half-loaded generation is never served: do not leave its keys behind.
        online_store.drop_generation(view, generation)
        raise
    log(f"{view.name}: generation {generation} loaded: {written} entities written")
    return LoadedGeneration(view.name, generation, served, rows.num_rows, written)


def finish_generation(
    view: FeatureView,
    offline_store: OfflineStore,
    online_store: RedisOnlineStore,
    loaded: LoadedGeneration,
    *,
    now: datetime | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    max_mismatch_rate: float = SWAP_MAX_MISMATCH_RATE,
    retention: timedelta = DEFAULT_RETENTION,
    seed: int = 0,
    log: Callable[[str], None] = logger.info,
) -> GenerationSwap:
    """Validate ``loaded`` on a sample against the offline store, then flip readers to it
    and retire the generation served before (see the module docstring)."""
    now = now or datetime.now(UTC)
    target = online_store.pinned(view, loaded.generation)
    report = compare_online_offline(view, offline_store, target, now=now, sample_size=sample_size, seed=seed)
    if not report.passes(max_mismatch_rate):
        online_store.drop_generation(view, loaded.generation)
        raise GenerationValidationError(view.name, loaded.generation, loaded.served, report, max_mismatch_rate)
    log(f"{view.name}: generation {loaded.generation} agrees with the offline store on {report.checked} sampled entities")
    state = online_store.flip_generation(view, loaded.served, loaded.generation, retention)
    retired = online_store.retire_generation(view, loaded.served, retention)
    swap = GenerationSwap(loaded, report, state, retired)
    log(swap.summary())
    return swap


def publish_generation(
    view: FeatureView,
    offline_store: OfflineStore,
    online_store: RedisOnlineStore,
    *,
    now: datetime | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    max_mismatch_rate: float = SWAP_MAX_MISMATCH_RATE,
    retention: timedelta = DEFAULT_RETENTION,
    batch_rows: int = 1_000,
    log: Callable[[str], None] = logger.info,
) -> GenerationSwap:
    """:func:`load_generation` then :func:`finish_generation`: the whole swap."""
    loaded = load_generation(view, offline_store, online_store, now=now, batch_rows=batch_rows, log=log)
    return finish_generation(
        view, offline_store, online_store, loaded, now=now, sample_size=sample_size,
        max_mismatch_rate=max_mismatch_rate, retention=retention, log=log,
    )


def rollback_generation(
    view: FeatureView, online_store: RedisOnlineStore, *, retention: timedelta = DEFAULT_RETENTION
) -> GenerationState:
    """Serve ``view``'s previous generation again; the generation served until now is kept
    for ``retention`` (rolling back again undoes the rollback)."""
    return online_store.rollback(view, retention)
