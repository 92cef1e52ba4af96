"""A deterministic generator of raw e-commerce events for the demo and the tests.

Everything is drawn from one seeded numpy generator in a fixed order, and times are whole
microseconds (int64) from the start, so the same arguments give byte-identical Parquet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from feature_platform.errors import ConfigError
from feature_platform.rows.timestamps import epoch_micros, from_micros
from feature_platform.sample_data.landing import replace_tables
from feature_platform.sample_data.raw_schema import (
    COUNTRIES,
    EVENT_TIME_COLUMNS,
    INGESTED_AT,
    PAGES,
    PLANS,
    RAW_SCHEMAS,
)

_US_PER_S = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_S

# Ingestion delays. On-time rows arrive within 30 minutes; late rows 2 to 48 hours after
# the event; re-deliveries at most an hour after the first delivery. The gaps between
# these ranges let a reader tell late rows from on-time ones by their delay alone.
LATE_MIN_DELAY = timedelta(hours=2)
LATE_MAX_DELAY = timedelta(hours=48)
_ON_TIME_MIN_US = 5 * _US_PER_S
_ON_TIME_MEAN_US = 180 * _US_PER_S
_ON_TIME_MAX_US = 1_800 * _US_PER_S
_REDELIVERY_MIN_US = 60 * _US_PER_S
_REDELIVERY_MAX_US = 3_600 * _US_PER_S
_REDELIVERED_FRACTION = 0.002
_MIN_REDELIVERIES = 3

_PLAN_CHANGE_FRACTION = 0.25
_ORDERS_PER_DAY_MEAN = 1.5
_SESSIONS_PER_DAY_MEAN = 2.0
_EXTRA_VIEWS_PER_SESSION = 6.0
_VIEW_GAP_MEAN_US = 45 * _US_PER_S

GENERATED_FILE_NAME = "part-0.parquet"


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate_sample_data` landed.

    ``row_counts`` counts landed raw rows per table, re-deliveries included;
    ``duplicate_rows`` counts those re-deliveries; ``late_rows`` counts landed rows
    ingested 2 to 48 hours after their event (``late_rows_by_table`` per table). Rows
    that would arrive at or after ``end`` are not landed and not counted.
    """

    start: datetime
    end: datetime
    user_ids: tuple[int, ...]
    row_counts: dict[str, int]
    duplicate_rows: dict[str, int]
    late_rows_by_table: dict[str, int]

    @property
    def late_rows(self) -> int:
        """Landed late rows over all tables."""
        return sum(self.late_rows_by_table.values())


@dataclass
class _Events:
    """One raw table being built: columns as numpy arrays, times in microseconds since the epoch."""

    columns: dict[str, np.ndarray]
    user_idx: np.ndarray


def generate_sample_data(
    landing_dir: Path,
    *,
    end: datetime,
    days: int = 14,
    n_users: int = 500,
    seed: int = 7,
    late_fraction: float = 0.01,
) -> SampleSummary:
    """Generate ``days`` of raw users, orders and page views ending at ``end`` and land them.

    Events happen in ``[end - days, end)``; ``end`` must be timezone-aware. Each table's
    folder under ``landing_dir`` is replaced as a whole (extra batches landed before are
    removed). About ``late_fraction`` of the rows arrive 2 to 48 hours after their event,
    the rest within 30 minutes; a few rows are delivered twice (same id, later
    ``ingested_at``). Rows ingested at or after ``end`` have not arrived yet and are not
    landed. The same arguments always give byte-identical files.
    """
    start_us, end_us = _check_arguments(end, days, n_users, late_fraction)
    rng = np.random.default_rng(seed)
    user_ids = np.arange(1, n_users + 1, dtype=np.int64)

    signup_us = start_us + (rng.beta(0.7, 2.0, n_users) * (end_us - start_us)).astype(np.int64)
    users = _users(rng, user_ids, signup_us, end_us)
    orders = _orders(rng, user_ids, signup_us, end_us)
    page_views = _page_views(rng, user_ids, signup_us, end_us)

    landed: dict[str, pa.Table] = {}
    duplicates: dict[str, int] = {}
    late: dict[str, int] = {}
    for table, events in (("users", users), ("orders", orders), ("page_views", page_views)):
        rows, duplicates[table], late[table] = _deliver(rng, table, events, end_us, late_fraction)
        landed[table] = rows
    replace_tables(Path(landing_dir), landed, GENERATED_FILE_NAME)
    return SampleSummary(
        start=from_micros(start_us),
        end=from_micros(end_us),
        user_ids=tuple(int(u) for u in user_ids),
        row_counts={table: rows.num_rows for table, rows in landed.items()},
        duplicate_rows=duplicates,
        late_rows_by_table=late,
    )


def _check_arguments(
    end: datetime, days: int, n_users: int, late_fraction: float
) -> tuple[int, int]:
    if not isinstance(end, datetime) or end.tzinfo is None or end.utcoffset() is None:
        raise ConfigError(
            f"end={end!r} must be a timezone-aware datetime, e.g. datetime(2026, 1, 15, tzinfo=UTC)"
        )
    if not isinstance(days, int) or days <= 0:
        raise ConfigError(f"days={days!r} must be a positive whole number of days")
    if not isinstance(n_users, int) or n_users <= 0:
        raise ConfigError(f"n_users={n_users!r} must be a positive whole number")
    if not 0.0 <= late_fraction <= 1.0:
        raise ConfigError(f"late_fraction={late_fraction!r} must be between 0 and 1")
    end_us = epoch_micros(end)
    return end_us - days * _US_PER_DAY, end_us


def _users(
    rng: np.random.Generator, user_ids: np.ndarray, signup_us: np.ndarray, end_us: int
) -> _Events:
    """A profile row at signup, and for some users a second one when their plan changes."""
    n = len(user_ids)
    country = rng.choice(len(COUNTRIES), n, p=[0.35, 0.12, 0.12, 0.1, 0.14, 0.1, 0.07])
    plan = rng.choice(len(PLANS), n, p=[0.7, 0.22, 0.08])
    changes = rng.random(n) < _PLAN_CHANGE_FRACTION
    changed = np.flatnonzero(changes)
    change_us = signup_us[changed] + (
        rng.random(len(changed)) * (end_us - signup_us[changed])
    ).astype(np.int64)
    new_plan = (plan[changed] + rng.integers(1, len(PLANS), len(changed))) % len(PLANS)

    user_idx = np.concatenate([np.arange(n), changed])
    events = _Events(
        columns={
            "user_id": user_ids[user_idx],
            "signup_at": signup_us[user_idx],
            "country": country[user_idx],
            "plan": np.concatenate([plan, new_plan]),
            "updated_at": np.concatenate([signup_us, change_us]),
        },
        user_idx=user_idx,
    )
    return _unique_event_times(events, "updated_at", end_us)


def _arrivals(
    rng: np.random.Generator, signup_us: np.ndarray, end_us: int, mean_per_day: float
) -> tuple[np.ndarray, np.ndarray]:
    """Events of each user at a user-specific rate (gamma-distributed around ``mean_per_day``),
    uniform between signup and ``end_us``: (user index per event, event time in µs)."""
    active_days = (end_us - signup_us) / _US_PER_DAY
    rate = rng.gamma(2.0, mean_per_day / 2.0, len(signup_us))
    user_idx = np.repeat(np.arange(len(signup_us)), rng.poisson(rate * active_days))
    times = signup_us[user_idx] + (rng.random(len(user_idx)) * (end_us - signup_us[user_idx])).astype(np.int64)
    return user_idx, times


def _orders(
    rng: np.random.Generator, user_ids: np.ndarray, signup_us: np.ndarray, end_us: int
) -> _Events:
    user_idx, ordered_us = _arrivals(rng, signup_us, end_us, _ORDERS_PER_DAY_MEAN)
    amount = np.maximum(np.round(rng.lognormal(3.6, 0.6, len(user_idx)), 2), 0.5)
    items = 1 + rng.poisson(1.2, len(user_idx)).astype(np.int64)
    events = _Events(
        columns={
            "user_id": user_ids[user_idx],
            "ordered_at": ordered_us,
            "amount": amount,
            "items": items,
        },
        user_idx=user_idx,
    )
    return _with_ids(_unique_event_times(events, "ordered_at", end_us), "order_id", "ordered_at")


def _page_views(
    rng: np.random.Generator, user_ids: np.ndarray, signup_us: np.ndarray, end_us: int
) -> _Events:
    """Sessions start at random times after signup; each has a run of views a few seconds to minutes apart."""
    session_user, session_start = _arrivals(rng, signup_us, end_us, _SESSIONS_PER_DAY_MEAN)
    views_per_session = 1 + rng.poisson(_EXTRA_VIEWS_PER_SESSION, len(session_user))

    session_idx = np.repeat(np.arange(len(session_user)), views_per_session)
    gaps = rng.exponential(_VIEW_GAP_MEAN_US, len(session_idx)).astype(np.int64) + _US_PER_S
    first_of_session = np.concatenate([[0], np.cumsum(views_per_session)[:-1]])
    gaps[first_of_session] = 0
    cumulative = np.cumsum(gaps)
    offset = cumulative - cumulative[first_of_session][session_idx]
    viewed_us = session_start[session_idx] + offset
    page = rng.choice(len(PAGES), len(session_idx), p=[0.15, 0.2, 0.15, 0.3, 0.1, 0.04, 0.06])

    session_ids = np.array([f"s{i:07d}" for i in range(len(session_user))], dtype=object)
    user_idx = session_user[session_idx]
    events = _Events(
        columns={
            "user_id": user_ids[user_idx],
            "session_id": session_ids[session_idx],
            "viewed_at": viewed_us,
            "page": page,
        },
        user_idx=user_idx,
    )
    return _with_ids(_unique_event_times(events, "viewed_at", end_us), "view_id", "viewed_at")


def _unique_event_times(events: _Events, time_column: str, end_us: int) -> _Events:
    """Nudge colliding times of the same user apart by a microsecond, then drop events at or after ``end_us``."""
    times = events.columns[time_column].copy()
    while True:
        order = np.lexsort((times, events.user_idx))
        same = (np.diff(events.user_idx[order]) == 0) & (np.diff(times[order]) == 0)
        if not same.any():
            break
        times[order[1:][same]] += 1
    events.columns[time_column] = times
    return _select(events, times < end_us)


def _with_ids(events: _Events, id_column: str, time_column: str) -> _Events:
    """Number the events 1..n in (event time, user) order, the id first among the columns."""
    order = np.lexsort((events.user_idx, events.columns[time_column]))
    ordered = _select(events, order)
    ids = np.arange(1, len(order) + 1, dtype=np.int64)
    return _Events(columns={id_column: ids, **ordered.columns}, user_idx=ordered.user_idx)


def _select(events: _Events, index: np.ndarray) -> _Events:
    return _Events(
        columns={name: values[index] for name, values in events.columns.items()},
        user_idx=events.user_idx[index],
    )


def _deliver(
    rng: np.random.Generator, table: str, events: _Events, end_us: int, late_fraction: float
) -> tuple[pa.Table, int, int]:
    """Give every event an ingestion time, add re-deliveries, drop what arrives at or after ``end_us``.

    Returns the rows in ingestion order, the number of landed re-deliveries and of landed late rows.
    """
    event_us = events.columns[EVENT_TIME_COLUMNS[table]]
    n = len(event_us)
    late = rng.random(n) < late_fraction
    on_time_delay = np.clip(
        _ON_TIME_MIN_US + rng.exponential(_ON_TIME_MEAN_US, n).astype(np.int64),
        None,
        _ON_TIME_MAX_US,
    )
    late_delay = rng.integers(
        int(LATE_MIN_DELAY.total_seconds()) * _US_PER_S,
        int(LATE_MAX_DELAY.total_seconds()) * _US_PER_S + 1,
        n,
    )
    ingested_us = event_us + np.where(late, late_delay, on_time_delay)

    on_time = np.flatnonzero(~late)
    n_redelivered = min(len(on_time), max(_MIN_REDELIVERIES, round(_REDELIVERED_FRACTION * n)))
    again = np.sort(rng.choice(on_time, n_redelivered, replace=False))
    again_ingested = ingested_us[again] + rng.integers(
        _REDELIVERY_MIN_US, _REDELIVERY_MAX_US + 1, len(again)
    )

    rows = np.concatenate([np.arange(n), again])
    ingested = np.concatenate([ingested_us, again_ingested])
    is_redelivery = np.concatenate([np.zeros(n, bool), np.ones(len(again), bool)])
    arrived = ingested < end_us
    rows, ingested, is_redelivery = rows[arrived], ingested[arrived], is_redelivery[arrived]

    first_column = RAW_SCHEMAS[table].names[0]
    order = np.lexsort((events.columns[first_column][rows], ingested))
    rows, ingested, is_redelivery = rows[order], ingested[order], is_redelivery[order]
    table_rows = _to_arrow(
        table, {name: values[rows] for name, values in events.columns.items()}, ingested
    )
    return table_rows, int(is_redelivery.sum()), int(late[rows].sum())


def _to_arrow(table: str, columns: dict[str, np.ndarray], ingested_us: np.ndarray) -> pa.Table:
    schema = RAW_SCHEMAS[table]
    labels = {"country": COUNTRIES, "plan": PLANS, "page": PAGES}
    arrays = []
    for field in schema:
        values = ingested_us if field.name == INGESTED_AT else columns[field.name]
        if field.name in labels:
            arrays.append(pa.array(labels[field.name], pa.string()).take(pa.array(values)))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
