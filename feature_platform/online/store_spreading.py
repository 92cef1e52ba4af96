"""Spreading hot keys of the Redis online store over copies on other masters.

See :mod:`feature_platform.online.spreading` for the consistency rules; this module holds
the store's :meth:`~StoreSpreading.spread` and :meth:`~StoreSpreading.unspread`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from feature_platform.errors import ConfigError
from feature_platform.online.keys import copy_key, entity_key_values
from feature_platform.online.spreading import encode_copies
from feature_platform.online.store_core import READ_FIELDS
from feature_platform.online.store_writes import StoreWrites
from feature_platform.specs import FeatureView


class StoreSpreading(StoreWrites):
    """:meth:`spread` and :meth:`unspread` (copies are written with the store's writes)."""

    def spread(self, view: FeatureView, entities: Iterable[Mapping[str, object]], copies: int = 3) -> int:
        """Spread the keys of ``entities`` of ``view`` over ``copies`` keys (the key and
        ``copies - 1`` copies on other masters where there are any); returns how many keys
        are spread. Spreading a spread key again copies its current value again."""
        if copies < 2:
            raise ConfigError(f"copies must be >= 2 (the key and at least one copy), got {copies}")
        layout = self.view_keys(view)
        keys = [layout.key(entity_key_values(e, view, "the entities to spread")) for e in entities]
        if not keys:
            return 0
        doing = f"spreading hot keys of {view.name!r}"
        masters = self.transport.master_count()
        numbers = {key: self._copy_numbers(key, copies, masters) for key in keys}
        # Copy the current values first, register after: a reader never picks an unwritten copy.
        stored = self.transport.read_hashes(keys, READ_FIELDS, doing)
        ttls = self.transport.execute([("PTTL", key) for key in keys], doing)
        now_ms = time.time_ns() // 1_000_000
        rows: list[tuple[bytes, int, int, object, bytes]] = []
        for key, (event, created, blob), ttl in zip(keys, stored, ttls, strict=True):
            if event is None or ttl == -2:
                continue
            expire: object = "" if ttl < 0 else now_ms + ttl
            rows += [(copy_key(key, n), int(event), int(created), expire, blob) for n in numbers[key]]
        if rows:
            self._write_rows(
                view, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                [r[3] for r in rows], [r[4] for r in rows],
            )
        self.transport.execute(
            [("HSET", self._hot_registry, key, encode_copies(numbers[key])) for key in keys], doing
        )
        self._spread_table(force=True)
        return len(keys)

    def unspread(self, view: FeatureView, entities: Iterable[Mapping[str, object]]) -> int:
        """Stop spreading the keys of ``entities`` of ``view`` and delete their copies."""
        layout, spread = self._write_layout(view)
        keys = [layout.key(entity_key_values(e, view, "the entities to unspread")) for e in entities]
        doing = f"unspreading hot keys of {view.name!r}"
        removed = self.transport.execute([("HDEL", self._hot_registry, key) for key in keys], doing)
        copies = [copy for key in keys for copy in spread.keys_of(key)[1:]]
        if copies:
            self.transport.execute([("DEL", copy) for copy in copies], doing)
        self._spread_table(force=True)
        return int(sum(removed))

    def _copy_numbers(self, key: bytes, copies: int, masters: int) -> list[int]:
        """Copy numbers whose keys fall on masters the key and its other copies are not on,
        while there are such masters."""
        used = {self.transport.master_of(key)}
        chosen: list[int] = []
        number = 0
        while len(chosen) < copies - 1:
            number += 1
            owner = self.transport.master_of(copy_key(key, number))
            if owner not in used or len(used) >= masters or number > 10_000:
                chosen.append(number)
                used.add(owner)
        return chosen
