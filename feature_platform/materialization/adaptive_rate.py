"""A write rate that adapts to the online store's health during a bulk load.

The seed's "monitor online store health during load": while a rebuild writes, a probe
thread times single-entity reads (what a model server does) and keeps their p99 over a
sliding window. When the p99 passes ``max_read_p99``, the write rate halves (down to
``min_rows_per_s``); when it is back under half the bound, the rate grows by a quarter
(up to ``max_rows_per_s``). Writers share one pacer, so the rate holds across threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import numpy as np

from feature_platform.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass
class RateChange:
    """One adjustment of the rate, for the rebuild's report."""

    at: float
    read_p99_s: float
    rows_per_s: float


@dataclass
class AdaptiveRate:
    """A shared pacer whose rows/s backs off when reads slow down (AIMD).

    ``acquire(n)`` blocks until ``n`` more rows may be written at the current rate.
    ``observe(p99_s)`` adjusts the rate from a measured read p99 (seconds).
    """

    max_rows_per_s: float
    min_rows_per_s: float = 50.0
    max_read_p99_s: float = 0.005
    rows_per_s: float = field(init=False)
    changes: list[RateChange] = field(default_factory=list, init=False)
    _next: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        if self.max_rows_per_s <= 0 or self.min_rows_per_s <= 0:
            raise ConfigError(
                f"Rebuild rates must be > 0 rows/s (max {self.max_rows_per_s}, min {self.min_rows_per_s})"
            )
        if self.max_read_p99_s <= 0:
            raise ConfigError(f"The read p99 bound must be > 0 s, got {self.max_read_p99_s}")
        self.min_rows_per_s = min(self.min_rows_per_s, self.max_rows_per_s)
        self.rows_per_s = self.max_rows_per_s

    def acquire(self, rows: int) -> None:
        """Wait until ``rows`` more rows fit under the rate (threads queue one after another)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + rows / self.rows_per_s
        if start > now:
            time.sleep(start - now)

    def observe(self, read_p99_s: float) -> None:
        """Back off when the read p99 is over the bound; recover when well under it."""
        with self._lock:
            before = self.rows_per_s
            if read_p99_s > self.max_read_p99_s:
                self.rows_per_s = max(self.min_rows_per_s, before / 2)
            elif read_p99_s < self.max_read_p99_s / 2:
                self.rows_per_s = min(self.max_rows_per_s, before * 1.25)
            if self.rows_per_s != before:
                self.changes.append(RateChange(time.monotonic(), read_p99_s, self.rows_per_s))
                logger.info(
                    "online read p99 %.2f ms (bound %.2f ms): write rate %.0f -> %.0f rows/s",
                    read_p99_s * 1e3, self.max_read_p99_s * 1e3, before, self.rows_per_s,
                )


class ReadLatencyProbe:
    """A thread timing ``read_once()`` every ``interval_s`` and feeding the p99 of the last
    ``window`` reads to ``rate.observe`` (after ``min_samples`` reads)."""

    def __init__(
        self,
        read_once: Callable[[], None],
        rate: AdaptiveRate,
        *,
        interval_s: float = 0.01,
        window: int = 200,
        min_samples: int = 20,
        observe_every: int = 20,
    ) -> None:
        self._read_once = read_once
        self._rate = rate
        self._interval = interval_s
        self._samples: deque[float] = deque(maxlen=window)
        self._min_samples = min_samples
        self._observe_every = observe_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="read-latency-probe", daemon=True)
        self.reads = 0

    def p99(self) -> float | None:
        """The p99 of the reads in the window (seconds), or None before the first read."""
        samples = list(self._samples)
        return float(np.percentile(samples, 99)) if samples else None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            started = time.perf_counter()
            try:
                self._read_once()
            except Exception:  # an unreachable store shows up in the writes; keep probing
                logger.debug("read probe failed", exc_info=True)
                continue
            self._samples.append(time.perf_counter() - started)
            self.reads += 1
            if self.reads >= self._min_samples and self.reads % self._observe_every == 0:
                p99 = self.p99()
                if p99 is not None:
                    self._rate.observe(p99)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
