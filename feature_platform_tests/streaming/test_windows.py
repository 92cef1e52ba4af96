"""The exact window: tiles plus edge events equal a brute-force pass over the events with
``t - w < event time <= t`` (``< t`` strict), at any instant, for every function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from feature_platform.streaming.tiles import (
    EntityWindows,
    WindowEvent,
    WindowSpan,
    fold_events,
    tile_groups,
    window_columns,
)
from feature_platform_tests.streaming.helpers import assert_same, brute_force
from feature_platform_tests.streaming.repo import user_clicks

MINUTE = 60_000_000
BASE = int(datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()) * 1_000_000


def state_of(events: list[WindowEvent]) -> EntityWindows:
    state = EntityWindows(events=events)
    for group in tile_groups(user_clicks):
        triples = ((e.event_us, e.created_us, e.values[group.column]) for e in events)
        state.tiles[group.name] = fold_events(triples, group)
    return state


# Event times on and around tile boundaries (of 1 and 5 minutes), and anywhere in between.
offsets = st.one_of(
    st.integers(0, 25).map(lambda m: m * MINUTE),
    st.integers(1, 25).map(lambda m: m * MINUTE - 1),
    st.integers(0, 25).map(lambda m: m * MINUTE + 1),
    st.integers(0, 25 * MINUTE),
)
event_rows = st.lists(
    st.tuples(
        offsets,
        st.integers(0, 3),  # created: small, so equal (event, created) pairs happen
        st.sampled_from(["a", "b", "c", None]),
        st.one_of(st.none(), st.floats(-1e3, 1e3, allow_nan=False)),
        st.one_of(st.none(), st.integers(-50, 50)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(rows=event_rows, read_offsets=st.lists(offsets, min_size=1, max_size=6), inclusive=st.booleans())
def test_tiles_plus_edge_events_equal_the_definition(rows: list[tuple[Any, ...]], read_offsets: list[int], inclusive: bool) -> None:
    columns = window_columns(user_clicks)
    events = [
        WindowEvent(BASE + at, BASE + created, (i, 0), dict(zip(("page", "amount", "items"), (page, amount, items), strict=True)))
        for i, (at, created, page, amount, items) in enumerate(rows)
    ]
    assert set(columns) == {"page", "amount", "items"}
    state = state_of(events)
    for offset in read_offsets:
        # Reads from before the first event to after every window has passed.
        at = BASE + offset + 10 * MINUTE
        values = state.values(user_clicks, [f.name for f in user_clicks.aggregated_features], at, inclusive=inclusive)
        for feature in user_clicks.aggregated_features:
            aggregation = feature.aggregation
            assert aggregation is not None
            window = aggregation.window // timedelta(microseconds=1)
            expected = brute_force(feature, events, at - window, at if inclusive else at - 1)
            assert_same(values[feature.name], expected, f"{feature.name} at +{offset} µs")


def test_window_span_cuts_whole_tiles_and_edges() -> None:
    # A 5-minute window of 1-minute tiles read 30.5 s into a minute: 4 whole tiles, two edges.
    at = BASE + 10 * MINUTE + 30_500_000
    span = WindowSpan(at - 5 * MINUTE, at, MINUTE)
    assert list(span.whole_tiles()) == [BASE + m * MINUTE for m in range(6, 10)]
    assert span.edges() == [(at - 5 * MINUTE + 1, BASE + 6 * MINUTE - 1), (BASE + 10 * MINUTE, at)]
    # Read at the last microsecond of a minute: the window is 5 whole tiles minus nothing.
    at = BASE + 10 * MINUTE - 1
    span = WindowSpan(at - 5 * MINUTE, at, MINUTE)
    assert list(span.whole_tiles()) == [BASE + m * MINUTE for m in range(5, 10)]
    assert span.edges() == []
    # The strict rule ends the window 1 µs earlier: the newest tile becomes an edge.
    span = WindowSpan(at - 5 * MINUTE, at - 1, MINUTE)
    assert list(span.whole_tiles()) == [BASE + m * MINUTE for m in range(5, 9)]
    assert span.edges() == [(BASE + 9 * MINUTE, at - 1)]
