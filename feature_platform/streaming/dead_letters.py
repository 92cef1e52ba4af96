"""The dead-letter stream of a source: what was refused and why, and replay on request.

A dead letter (``~dead:{source}``) has the fields ``p`` (partition), ``id`` (its stream id
in the log), ``reason``, ``wm`` (the watermark it missed, µs) and ``d`` (the log entry).
:func:`replay_dead_letters` moves letters back into their partition's log, marked as
replays, so the processor applies them whatever the watermark, through the same guarded
batch script; each letter is moved at most once (one Lua script per chunk).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import redis

from feature_platform.online.connection import translated_errors
from feature_platform.online.keys import StreamKeys
from feature_platform.online.scripts import REPLAY_DEAD_LETTERS
from feature_platform.specs import StreamSource
from feature_platform.streaming.log import LogEvent, decode_entry, encode_entry, log_endpoint

_CHUNK = 500


@dataclass(frozen=True)
class StoredDeadLetter:
    """One dead letter as stored: where it was, why, and the event."""

    letter_id: bytes
    reason: str
    watermark_us: int
    event: LogEvent


def iter_dead_letters(client: redis.Redis, keys: StreamKeys, *, limit: int | None = None) -> Iterator[StoredDeadLetter]:
    """The dead letters of a source, oldest first."""
    start: bytes | str = "-"
    seen = 0
    while limit is None or seen < limit:
        count = _CHUNK if limit is None else min(_CHUNK, limit - seen)
        entries = cast(list[Any], client.xrange(keys.dead_letters, min=start, count=count))
        if not entries:
            return
        for letter_id, fields in entries:
            yield StoredDeadLetter(
                letter_id,
                fields[b"reason"].decode(),
                int(fields[b"wm"]),
                decode_entry(fields[b"id"], int(fields[b"p"]), fields[b"d"]),
            )
            seen += 1
        start = b"(" + entries[-1][0]
        if len(entries) < count:
            return


def replay_dead_letters(url: str, tenant: str, source: StreamSource, *, limit: int | None = None) -> int:
    """Move up to ``limit`` dead letters of ``source`` (all: None) back into its log; the
    number moved. The stream processor then applies them (``feature-platform stream``)."""
    endpoint = log_endpoint(url)
    client = redis.Redis.from_url(url)
    keys = StreamKeys(tenant, source.name)
    moved = 0
    try:
        with translated_errors(endpoint, f"replaying dead letters of {source.name!r}"):
            script = client.register_script(REPLAY_DEAD_LETTERS)
            chunk: list[StoredDeadLetter] = []
            letters = list(iter_dead_letters(client, keys, limit=limit))
            for start in range(0, len(letters), _CHUNK):
                chunk = letters[start : start + _CHUNK]
                logs = sorted({letter.event.partition for letter in chunk})
                key_list = [keys.dead_letters, *(keys.log(p) for p in logs)]
                args: list[Any] = []
                for letter in chunk:
                    event = letter.event
                    entry = encode_entry(event.entity, event.event_us, event.created_us, event.values, origin=event.stream_id)
                    args += [letter.letter_id, logs.index(event.partition) + 2, entry]
                moved += int(cast(int, script(keys=key_list, args=args)))
    finally:
        client.close()
    return moved
