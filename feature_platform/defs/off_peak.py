"""The off-peak window for backfills launched from the Dagster UI.

``feature-platform backfill`` decides before it launches (it waits, or sets a reduced rate in
the run config). A backfill launched from the UI has no such step: its runs carry Dagster's
``dagster/backfill`` tag, and the online asset applies the same rule when the run starts
publishing. It says so in the run log and in the materialization's metadata.
"""

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from feature_platform.materialization.backfill_window import OffPeak

BACKFILL_TAG = "dagster/backfill"
"""The tag Dagster puts on every run of a backfill."""

OFF_PEAK_RATE_METADATA = "off_peak_rate_limit"
"""Output metadata of the online asset: the reduced rows/s its publish is held to."""


def off_peak_rate(
    off_peak: OffPeak | None,
    run_tags: Mapping[str, str],
    partitions: int,
    what: str,
    *,
    log: Callable[[str], None],
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """The rows/s a UI backfill run's online publish is held to (None: its normal rate).

    Runs that are not part of a Dagster backfill, small backfills and runs inside the window
    publish as usual. Outside the window a large backfill's run either waits in the run for
    the window to open (``outside_window: wait``; the run holds its slot meanwhile) or
    publishes at the reduced rate; ``log`` says which.
    """
    if off_peak is None or BACKFILL_TAG not in run_tags:
        return None
    return off_peak.hold(partitions, what, log=log, now=now, sleep=sleep)
