"""Lua scripts run atomically inside Redis.

``WRITE_IF_NEWER`` is the compare-and-set of SEMANTICS.md. For each key i it receives
four ARGV: event µs, created µs, expire-at ms (``""``: no ttl) and the value blob. It
replaces the stored row only when (event, created) >= the stored pair, then sets the key's
expiry (PEXPIREAT, sliding with each newer value) or removes it; a row equal to the stored
one (same pair, same value) is left alone. Timestamps are integers below 2^53, exact as Lua
numbers. Returns ``{written, unchanged}``: keys really changed, and keys that already held
exactly this row.

``DELETE_IF_EVENT`` deletes key i only while its stored event time still equals ARGV[i],
so an active cleanup never removes a value that a writer replaced after the scan.

Both are called by SHA (``EVALSHA``); :data:`SCRIPTS` is what the transport loads again
when Redis lost them (restart, ``SCRIPT FLUSH``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

WRITE_IF_NEWER = """
local written = 0
local unchanged = 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local j = (i - 1) * 4
  local event = tonumber(ARGV[j + 1])
  local stored = redis.call('HMGET', key, 'e', 'c', 'v')
  local stored_event = tonumber(stored[1])
  if stored_event == event and tonumber(stored[2]) == tonumber(ARGV[j + 2]) and stored[3] == ARGV[j + 4] then
    unchanged = unchanged + 1
  elseif stored_event == nil or event > stored_event
     or (event == stored_event and tonumber(ARGV[j + 2]) >= (tonumber(stored[2]) or 0)) then
    redis.call('HSET', key, 'e', ARGV[j + 1], 'c', ARGV[j + 2], 'v', ARGV[j + 4])
    local expire_at = ARGV[j + 3]
    if expire_at == '' then
      redis.call('PERSIST', key)
    else
      redis.call('PEXPIREAT', key, expire_at)
    end
    written = written + 1
  end
end
return {written, unchanged}
"""

DELETE_IF_EVENT = """
local deleted = 0
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'e') == ARGV[i] then
    deleted = deleted + redis.call('DEL', KEYS[i])
  end
end
return deleted
"""


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


WRITE_IF_NEWER_SHA = _sha(WRITE_IF_NEWER)
DELETE_IF_EVENT_SHA = _sha(DELETE_IF_EVENT)
SCRIPTS = {WRITE_IF_NEWER_SHA: WRITE_IF_NEWER, DELETE_IF_EVENT_SHA: DELETE_IF_EVENT}
"""Every script by SHA."""


def write_if_newer_calls(
    keys: Sequence[bytes],
    events: Sequence[int],
    created: Sequence[int],
    expire_at: Sequence[object],
    blobs: Sequence[bytes],
    start: int,
    end: int,
    keys_per_call: int,
    tags: Sequence[bytes] | None = None,
) -> Iterator[tuple[object, ...]]:
    """``EVALSHA WRITE_IF_NEWER`` commands for rows ``start:end``, ``keys_per_call`` keys each.

    ``tags``: the rows' hash tags, rows of one tag adjacent; a call then also ends where the
    tag changes, so all keys of one call share a Redis Cluster slot.
    """
    first = start
    while first < end:
        last = min(first + keys_per_call, end)
        if tags is not None:
            tag = tags[first]
            for i in range(first + 1, last):
                if tags[i] != tag:
                    last = i
                    break
        argv: list[object] = []
        for i in range(first, last):
            argv += (events[i], created[i], expire_at[i], blobs[i])
        yield ("EVALSHA", WRITE_IF_NEWER_SHA, last - first, *keys[first:last], *argv)
        first = last


def delete_if_event_calls(doomed: Sequence[tuple[bytes, bytes]]) -> list[tuple[object, ...]]:
    """One ``EVALSHA DELETE_IF_EVENT`` per (key, stored event) so each reply is per key."""
    return [("EVALSHA", DELETE_IF_EVENT_SHA, 1, key, event) for key, event in doomed]


def _function_name(name: str, source: str) -> str:
    # The code's hash is part of the name: a cluster still holding an older library is
    # found out ("Function not found") and gets this one loaded, never runs old code.
    return f"{name}_{_sha(source)[:12]}"


_FUNCTIONS = {
    _sha(source): (_function_name(name, source), source)
    for name, source in (("write_if_newer", WRITE_IF_NEWER), ("delete_if_event", DELETE_IF_EVENT))
}
FUNCTION_NAMES = {sha: name for sha, (name, _) in _FUNCTIONS.items()}
"""The Redis Function that runs each script (by the script's SHA1), for ``FCALL``."""
FUNCTION_LIBRARY = "#!lua name=feature_platform\n" + "".join(
    f"redis.register_function('{name}', function(KEYS, ARGV)\n{source}\nend)\n"
    for name, source in _FUNCTIONS.values()
)
"""Both scripts as one Redis Functions library (``FUNCTION LOAD REPLACE``): on a Redis
Cluster, functions replicate to replicas and survive a failover; the script cache does not."""
