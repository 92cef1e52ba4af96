"""Key spreading for hot entities: N copies of a hot key, readers pick one at random.

A hot entity's key lives on one shard, so every read of it lands there. Spreading keeps
``copies - 1`` copies of the key under other hash tags (:func:`~feature_platform.online.keys.copy_key`),
chosen so that they fall on other masters where the cluster has them; a reader picks the
key or one of its copies at random, so the reads of the entity are shared by ``copies``
shards.

Consistency: every write of a spread key also writes its copies with the same arguments of
the same compare-and-set, so each copy only ever moves forward to the newest value, like
the key. Which keys are spread is a hash per tenant in Redis (``fs:<tenant>:~hot``); a
writer reads it at the start of every write, a reader at most every ``refresh_s`` seconds.
Spreading a key copies its current value first and registers it after, so a reader never
picks a copy that was never written; a copy that is missing anyway (evicted, expired,
removed by ``unspread``) is read again from the key itself, so it never answers NOT_FOUND
for a value the key has. A write that loaded the registry just before a key was spread
can leave that key's copies one value behind until the next write or the next
``spread`` of the key (which copies it again).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence

import msgpack

from feature_platform.online.keys import copy_key


class SpreadTable:
    """The tenant's spread keys and their copies, as last loaded from Redis."""

    def __init__(self, refresh_s: float = 5.0) -> None:
        self.refresh_s = refresh_s
        self._copies: dict[bytes, tuple[bytes, ...]] = {}
        self._loaded_at = -float("inf")
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Whether the table is older than ``refresh_s``."""
        return time.monotonic() - self._loaded_at >= self.refresh_s

    def load(self, registry: Sequence[bytes] | Mapping[bytes, bytes]) -> None:
        """Replace the table with an ``HGETALL`` reply of the registry (key -> copy numbers)."""
        pairs = registry.items() if isinstance(registry, Mapping) else zip(registry[::2], registry[1::2], strict=True)
        copies = {
            key: (key, *(copy_key(key, n) for n in msgpack.unpackb(numbers)))
            for key, numbers in pairs
        }
        with self._lock:
            self._copies = copies
            self._loaded_at = time.monotonic()

    def __bool__(self) -> bool:
        return bool(self._copies)

    def __contains__(self, key: object) -> bool:
        return key in self._copies

    def keys_of(self, key: bytes) -> tuple[bytes, ...]:
        """The key and its copies (just the key when it is not spread)."""
        return self._copies.get(key, (key,))

    def pick(self, key: bytes) -> bytes:
        """The key or one of its copies, at random (the key itself when it is not spread)."""
        options = self._copies.get(key)
        return key if options is None else random.choice(options)


def encode_copies(numbers: Sequence[int]) -> bytes:
    """The registry value of a spread key: its copy numbers."""
    return msgpack.packb(list(numbers))
