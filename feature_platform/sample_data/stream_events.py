"""A deterministic stream of page events for the ``page_events`` stream source: what the web
front end would push as users browse (the real-time twin of the landed ``page_views``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from feature_platform.errors import ConfigError
from feature_platform.sample_data.raw_schema import PAGES, UTC_MICROS

PAGE_WEIGHTS = (0.15, 0.2, 0.15, 0.3, 0.1, 0.04, 0.06)
"""How often each page of :data:`PAGES` is viewed (the same mix as the landed page views)."""

CATEGORIES = ("books", "electronics", "fashion", "garden", "sports", "toys")
"""The product categories a ``/category`` or ``/product`` page shows."""
CATEGORY_WEIGHTS = (0.25, 0.25, 0.2, 0.1, 0.1, 0.1)
_CATEGORY_PAGES = ("/category", "/product")

PAGE_EVENT_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("event_timestamp", UTC_MICROS, nullable=False),
        pa.field("page", pa.string(), nullable=False),
        pa.field("dwell_s", pa.float64(), nullable=False),
        pa.field("category", pa.string()),
    ]
)


def generate_page_events(
    n_events: int,
    user_ids: list[int] | tuple[int, ...],
    *,
    end: datetime,
    span: timedelta = timedelta(minutes=4),
    late_fraction: float = 0.0,
    late_by: timedelta = timedelta(minutes=10),
    seed: int = 11,
) -> pa.Table:
    """``n_events`` page events of ``user_ids`` with event times spread over ``[end - span, end)``,
    in event-time order, as pushed. A ``/category`` or ``/product`` event carries the product
    category it shows (:data:`CATEGORIES`); the other pages have none (null).

    ``late_fraction`` of them (at random places in the stream) carry an event time ``late_by``
    earlier than their neighbours: events that arrive after their time has passed, which the
    processor sends to dead letters when ``late_by`` exceeds the source's allowed lateness.
    The same arguments always give the same events.
    """
    if not isinstance(n_events, int) or n_events < 0:
        raise ConfigError(f"n_events={n_events!r} must be a whole number >= 0")
    if not user_ids:
        raise ConfigError("user_ids must name at least one user")
    if end.tzinfo is None or span <= timedelta(0):
        raise ConfigError(f"end={end!r} must be timezone-aware and span={span} positive")
    if not 0.0 <= late_fraction <= 1.0:
        raise ConfigError(f"late_fraction={late_fraction!r} must be between 0 and 1")
    rng = np.random.default_rng(seed)
    end_us = int(end.astimezone(UTC).timestamp() * 1_000_000)
    span_us = int(span.total_seconds() * 1_000_000)
    offsets = np.sort(rng.integers(0, span_us, n_events))
    event_us = end_us - span_us + offsets
    late = rng.random(n_events) < late_fraction
    event_us[late] -= int(late_by.total_seconds() * 1_000_000)
    users = np.asarray(user_ids, dtype=np.int64)[rng.integers(0, len(user_ids), n_events)]
    pages = np.asarray(PAGES, dtype=object)[rng.choice(len(PAGES), n_events, p=PAGE_WEIGHTS)]
    dwell = np.round(rng.gamma(2.0, 15.0, n_events), 1)
    categories = np.asarray(CATEGORIES, dtype=object)[rng.choice(len(CATEGORIES), n_events, p=CATEGORY_WEIGHTS)]
    shows_category = np.isin(pages, _CATEGORY_PAGES)
    return pa.table(
        {
            "user_id": pa.array(users, pa.int64()),
            "event_timestamp": pa.array(event_us, pa.int64()).cast(UTC_MICROS),
            "page": pa.array(pages, pa.string()),
            "dwell_s": pa.array(dwell, pa.float64()),
            "category": pa.array(categories, pa.string(), mask=~shows_category),
        },
        schema=PAGE_EVENT_SCHEMA,
    )
