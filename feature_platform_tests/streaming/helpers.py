"""Event generators and checks shared by the streaming tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, cast

import redis

from feature_platform.online.keys import StreamKeys
from feature_platform.specs import AggregationFunction
from feature_platform.specs.feature_view import Feature
from feature_platform.streaming.apply import progress_counters
from feature_platform.streaming.tiles import WindowEvent
from feature_platform_tests.streaming.repo import clicks

PAGES = ["home", "shoes", "hats", "cart", "checkout"]


def click(user: int, at: datetime, page: str = "home", amount: float | None = 1.0, items: int | None = 1) -> dict[str, Any]:
    """One clicks event."""
    return {"user_id": user, "event_timestamp": at, "page": page, "amount": amount, "items": items}


def burst(now: datetime, n: int, users: int, *, seed: int = 7, spread: timedelta = timedelta(minutes=20)) -> list[dict[str, Any]]:
    """``n`` events of ``users`` users over the ``spread`` before ``now``, roughly in time order
    with some out-of-order ones, floats that do not add up exactly, and some nulls."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        at = now - spread + spread * (i / n) - timedelta(seconds=rng.choice([0, 0, 0, 5, 40]))
        rows.append(
            click(
                rng.randrange(users),
                at,
                rng.choice(PAGES),
                None if rng.random() < 0.05 else round(rng.uniform(0, 100), 3) + 0.1,
                rng.randrange(1, 5),
            )
        )
    return rows


def totals(client: redis.Redis, tenant: str = "default") -> dict[str, int]:
    """The progress counters of every partition of ``clicks``, summed."""
    keys = StreamKeys(tenant, clicks.name)
    out: dict[str, int] = {}
    for p in range(clicks.partitions):
        for name, value in progress_counters(client.hgetall(keys.progress(p))).items():  # type: ignore[arg-type]
            out[name] = out.get(name, 0) + value
    return out


def copy_log(client: redis.Redis, source_tenant: str, target_tenant: str) -> int:
    """Copy every log entry of ``clicks`` to another tenant under the SAME stream ids (so two
    engines can process identical logs); the number of entries copied."""
    copied = 0
    for p in range(clicks.partitions):
        entries = cast(list[Any], client.xrange(StreamKeys(source_tenant, clicks.name).log(p)))
        target = StreamKeys(target_tenant, clicks.name).log(p)
        pipe = client.pipeline(transaction=False)
        for entry_id, fields in entries:
            pipe.xadd(target, fields, id=entry_id)
        pipe.execute()
        copied += len(entries)
    return copied


def brute_force(feature: Feature, events: list[WindowEvent], after: int, until: int) -> Any:
    """The aggregation straight from its definition, no tiles."""
    aggregation = feature.aggregation
    assert aggregation is not None
    inside = [e for e in events if after < e.event_us <= until]
    values = [e.values[aggregation.column] for e in inside if e.values[aggregation.column] is not None]
    function = aggregation.func
    if function is AggregationFunction.COUNT:
        return len(values)
    if function is AggregationFunction.COUNT_DISTINCT:
        return len(set(values))
    if function is AggregationFunction.LAST:
        newest: WindowEvent | None = None
        for e in inside:  # log order: a later equal (event, created) pair wins
            if newest is None or (e.event_us, e.created_us) >= (newest.event_us, newest.created_us):
                newest = e
        return None if newest is None else newest.values[aggregation.column]
    if function is AggregationFunction.MIN:
        return min(values, default=None)
    if function is AggregationFunction.MAX:
        return max(values, default=None)
    if function is AggregationFunction.SUM:
        return sum(values)
    return sum(values) / len(values) if values else None


def assert_same(got: Any, expected: Any, what: str) -> None:
    """``got == expected``; floats to 1e-9 relative (a brute-force sum adds in another order)."""
    if isinstance(expected, float) and got is not None:
        assert abs(got - expected) <= 1e-9 * max(1.0, abs(expected)), what
    else:
        assert got == expected, what
