"""Generations of a view's online values: which one readers are served, and how they learn it.

A corrected view is published into a new generation beside the one being served (the
seed's "bug fix" backfill); one atomic write of the view's generation hash
(:func:`~feature_platform.online.keys.generation_key`) then switches readers, and the old
generation stays for rollback until its keys expire (:data:`DEFAULT_RETENTION`).

The generation hash has these fields (absent hash: generation 0 is served, the layout a
store had before generations existed):

* ``cur``: the generation served;
* ``prev``: the generation served before the last flip (the rollback target);
* ``hi``: the highest generation number ever allocated (``HINCRBY``: numbers are never
  reused while the hash lives);
* ``at``: when the last flip happened (ISO 8601, UTC);
* ``prev_until``: when the previous generation's keys expire (ISO 8601, UTC).

Readers cache the served generation per view for at most ``generation_refresh_s``
(:class:`GenerationTable`); a read whose cached entry is older asks Redis again in the same
round trip as the values (one more ``HGET``) and reads the view again only if the answer
changed. Every read of one view builds all its keys from one generation, so it never mixes
two; a reader switches at most ``generation_refresh_s`` after a flip (it keeps reading the
old generation, intact, until then). The L1 and L2 caches hold values by key, and keys
carry their generation, so neither can answer a read of the new generation with an old
value.

The generation hash has no expiry, so ``volatile-ttl`` never evicts it; under
``allkeys-lru`` every reader touches it each ``generation_refresh_s``, which keeps it among
the most recently used keys. A Redis that lost it (restarted empty) serves generation 0,
and the loss detection of :mod:`feature_platform.materialization.online_loss` applies.

This is not the publish marker (:class:`~feature_platform.online.PublishMarker`), which
says which run last published a view, to notice a store that lost its data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_RETENTION = timedelta(days=7)
"""How long the generation a flip replaced stays readable for a rollback (its keys expire
then, or earlier at their own ttl)."""
DEFAULT_REFRESH_S = 1.0
"""How long a reader trusts its cached served generation before asking Redis again."""


@dataclass(frozen=True)
class GenerationState:
    """What a view's generation hash says (generation 0 and nothing else when it has none)."""

    view: str
    current: int = 0
    previous: int | None = None
    highest: int = 0
    flipped_at: datetime | None = None
    previous_until: datetime | None = None

    @classmethod
    def from_reply(cls, view: str, reply: Mapping[bytes, bytes] | Sequence[bytes]) -> GenerationState:
        """The state from an ``HGETALL`` reply of the generation hash."""
        pairs = reply.items() if isinstance(reply, Mapping) else zip(reply[::2], reply[1::2], strict=True)
        fields = {bytes(k).decode(): bytes(v).decode() for k, v in pairs}

        def when(name: str) -> datetime | None:
            return datetime.fromisoformat(fields[name]) if fields.get(name) else None

        return cls(
            view,
            int(fields.get("cur", 0)),
            int(fields["prev"]) if fields.get("prev") else None,
            int(fields.get("hi", 0)),
            when("at"),
            when("prev_until"),
        )


def parse_generation(reply: object) -> int:
    """The served generation from an ``HGET <generation hash> cur`` reply (None: 0)."""
    return 0 if reply is None else int(reply)  # type: ignore[call-overload]  # bytes or int reply


class GenerationTable:
    """Per view, the served generation as this process last read it, and when."""

    def __init__(self, refresh_s: float = DEFAULT_REFRESH_S) -> None:
        self.refresh_s = refresh_s
        self._entries: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def get(self, view: str) -> tuple[int, bool]:
        """``(generation, fresh)``: the cached generation (0 if never read) and whether it
        was read less than ``refresh_s`` ago."""
        entry = self._entries.get(view)
        if entry is None:
            return 0, False
        return entry[0], time.monotonic() - entry[1] < self.refresh_s

    def set(self, view: str, generation: int) -> None:
        """Record that Redis just said ``view`` is served from ``generation``."""
        with self._lock:
            self._entries[view] = (generation, time.monotonic())

    def forget(self, view: str) -> None:
        """Drop the cached entry (the next read asks Redis)."""
        with self._lock:
            self._entries.pop(view, None)
