"""Generations of the Redis online store: allocate, flip, retire, restore, drop.

See :mod:`feature_platform.online.generations` for the rules. A flip is one script call
on the view's generation hash (a single key, so on a Redis Cluster too); retiring a
generation gives each of its keys ``PEXPIRE <retention> LT`` (a key due to expire sooner
at its own ttl keeps that), and restoring one for a rollback puts back each key's own
expiry (``event_timestamp + ttl + expiry_grace``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from feature_platform.errors import GenerationError
from feature_platform.online.generations import GenerationState
from feature_platform.online.scripts import FLIP_GENERATION_SHA
from feature_platform.online.store_core import RedisStoreCore
from feature_platform.specs import FeatureView

logger = logging.getLogger(__name__)


class StoreGenerations(RedisStoreCore):
    """The generation operations of the Redis online store (the workflow that uses them:
    :mod:`feature_platform.materialization.generations`)."""

    def generations(self, view: FeatureView) -> GenerationState:
        """What ``view``'s generation hash says (generation 0 alone when it has none)."""
        (reply,) = self.transport.execute(
            [("HGETALL", self._generation_key(view.name))], f"reading the generations of {view.name!r}"
        )
        return GenerationState.from_reply(view.name, reply or [])

    def new_generation(self, view: FeatureView) -> int:
        """A generation number never used for ``view`` (nothing reads it until a flip)."""
        if view.is_stream:
            raise GenerationError(
                f"Feature view {view.name!r} is a stream view: its stream processor writes the served "
                "values, so it has no generations; rebuild it with `feature-platform stream rebuild`"
            )
        if not view.online:
            raise GenerationError(f"Feature view {view.name!r} is not online: it has no online generations")
        (reply,) = self.transport.execute(
            [("HINCRBY", self._generation_key(view.name), "hi", 1)], f"allocating a generation of {view.name!r}"
        )
        return int(reply)

    def flip_generation(
        self, view: FeatureView, served: int, to: int, retention: timedelta
    ) -> GenerationState:
        """Serve ``to`` instead of ``served`` in one atomic write, recording ``served`` as
        the rollback target until ``retention`` from now; GenerationError (nothing changed)
        if ``served`` is no longer the generation served."""
        now = datetime.now(UTC)
        (before,) = self.transport.execute(
            [("EVALSHA", FLIP_GENERATION_SHA, 1, self._generation_key(view.name), served, to,
              now.isoformat(), (now + retention).isoformat())],
            f"flipping the generation of {view.name!r}",
        )
        if int(before) != served:
            raise GenerationError(
                f"Feature view {view.name!r} serves generation {int(before)}, not {served}: another flip "
                "happened meanwhile; nothing was changed (check `feature-platform online generations "
                f"{view.name}`)"
            )
        self._generations.set(view.name, to)
        logger.info("online generation flip %s/%s: %d -> %d", self.tenant, view.name, served, to)
        return self.generations(view)

    def retire_generation(self, view: FeatureView, generation: int, retention: timedelta) -> int:
        """Let ``generation``'s keys expire ``retention`` from now (or sooner, at their own
        ttl); returns how many keys it holds."""
        ms = retention // timedelta(milliseconds=1)
        layout = self.view_keys(view, generation)
        retired = 0
        for keys in self.transport.scan(layout.pattern, f"scanning generation {generation} of {view.name!r}"):
            values = [key for key in keys if layout.is_entity(key)]
            if values:
                self.transport.execute(
                    [("PEXPIRE", key, ms, "LT") for key in values], f"retiring generation {generation} of {view.name!r}"
                )
                retired += len(values)
        return retired

    def restore_expiry(self, view: FeatureView, generation: int) -> int:
        """Give ``generation``'s keys back their own expiry (``event_timestamp + ttl +
        expiry_grace``, none without ttl), undoing :meth:`retire_generation`; returns how
        many keys it holds."""
        layout = self.view_keys(view, generation)
        doing = f"restoring the expiry of generation {generation} of {view.name!r}"
        ttl_micros = None if view.ttl is None else view.ttl // timedelta(microseconds=1)
        restored = 0
        for keys in self.transport.scan(layout.pattern, doing):
            values = [key for key in keys if layout.is_entity(key)]
            events = self.transport.read_hashes(values, (b"e",), doing)
            commands: list[tuple[object, ...]] = []
            for key, (event,) in zip(values, events, strict=True):
                if event is None:
                    continue
                if ttl_micros is None:
                    commands.append(("PERSIST", key))
                else:
                    expire_us = int(event) + ttl_micros + self._grace_micros
                    commands.append(("PEXPIREAT", key, -(-expire_us // 1000)))
            if commands:
                self.transport.execute(commands, doing)
                restored += len(commands)
        return restored

    def generation_size(self, view: FeatureView, generation: int, limit: int | None = None) -> int:
        """How many value keys ``generation`` of ``view`` holds (counting stops at ``limit``)."""
        layout = self.view_keys(view, generation)
        found = 0
        for keys in self.transport.scan(layout.pattern, f"scanning generation {generation} of {view.name!r}"):
            found += sum(1 for key in keys if layout.is_entity(key))
            if limit is not None and found >= limit:
                break
        return found

    def drop_generation(self, view: FeatureView, generation: int) -> int:
        """Delete every key of ``generation`` of ``view`` (never the served one); returns
        how many there were."""
        if generation == self.generation(view):
            raise GenerationError(
                f"Generation {generation} of {view.name!r} is the one served: it cannot be dropped"
            )
        layout = self.view_keys(view, generation)
        doing = f"dropping generation {generation} of {view.name!r}"
        dropped = 0
        for keys in self.transport.scan(layout.pattern, doing):
            values = [key for key in keys if layout.is_entity(key)]
            if values:
                # One DEL per key: on a Redis Cluster the keys of one command must share a slot.
                dropped += sum(self.transport.execute([("DEL", key) for key in values], doing))
        return int(dropped)

    def rollback(self, view: FeatureView, retention: timedelta) -> GenerationState:
        """Serve ``view``'s previous generation again (its keys get their own expiry back)
        and retire the one served now for ``retention`` (so a rollback can be undone the
        same way). GenerationError if there is no previous generation or it has expired."""
        state = self.generations(view)
        previous = state.previous
        if previous is None:
            raise GenerationError(
                f"Feature view {view.name!r} has no previous generation to roll back to (generation "
                f"{state.current} is served and was never flipped to)"
            )
        if not self.generation_size(view, previous, limit=1):
            until = f" (its keys expired at {state.previous_until.isoformat()})" if state.previous_until else ""
            raise GenerationError(
                f"Generation {previous} of {view.name!r} holds no values any more{until}; nothing to roll back "
                f"to: generation {state.current} stays served"
            )
        self.restore_expiry(view, previous)
        flipped = self.flip_generation(view, state.current, previous, retention)
        self.retire_generation(view, state.current, retention)
        return flipped
