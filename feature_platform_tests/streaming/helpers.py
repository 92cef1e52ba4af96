"""Event generators and checks shared by the streaming tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, cast

import redis

from feature_platform.online.keys import StreamKeys
from feature_platform.streaming.apply import progress_counters
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
