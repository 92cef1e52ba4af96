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

The real-time path (:mod:`feature_platform.streaming`) has its scripts here too.

``MERGE_IF_UNCHANGED`` sets key i's value to ARGV[4i+4] only while the key still holds
exactly event ARGV[4i+1], created ARGV[4i+2] and value ARGV[4i+3] (what the caller read
and merged new features into); expiry is left as it is. Returns how many keys it set.

``PUSH_IF_NOT_BEHIND`` appends a push to its partitions' streams, all or nothing: KEYS are
the partition streams the push touches; ARGV[1] is ``max_lag``, ARGV[1 + i] the number of
entries for KEYS[i], then every entry's ``d`` field, grouped by key in key order. When any
touched stream holds more than ``max_lag`` entries (the processor trims what it has
acknowledged, so the length is the partition's backlog), nothing is appended and the reply
is ``{-1, i, length}``; else ``{0}``.

``APPLY_STREAM_BATCH`` applies one planned batch of one partition (``streaming.apply`` builds its
arguments), atomically: it checks the partition's lease still names this owner (fencing:
a processor that lost its lease cannot write) and the per-partition applied position (a
batch at or before the stored position is a replay and changes nothing; a plan made from
a stale position is refused), then adds the counters, appends the dead letters, writes the
latest values with the online store's compare-and-set, merges each tile's events of the
batch into it (folded by ``streaming.apply``; sums added one value at a time, in log order)
and adds the events to the views' kept events (the window edges), prunes tiles and kept events
older than the longest window plus the lateness, and stores the new position and watermark.
Replies ``{1, latest values written}``, ``{0, 0}`` (already applied), ``{-1, 0}`` (lease
lost) or ``{-2, 0}`` (stale position).

``REPLAY_DEAD_LETTERS`` moves dead letters back into their partitions' logs, each at most
once: KEYS[1] is the dead-letter stream, then the partition logs; ARGV holds, per letter,
its id, the index of its log in KEYS and its entry. A letter already moved (XDEL finds
nothing) is not appended again. Replies the number moved.

``ACQUIRE_LEASE`` / ``RELEASE_LEASE``: a stream partition's lease (:mod:`feature_platform.streaming.lease`).

All are called by SHA (``EVALSHA``); :data:`SCRIPTS` is what the transport loads again
when Redis lost them (restart, ``SCRIPT FLUSH``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

# The compare-and-set rule as a Lua function, shared by WRITE_IF_NEWER (batch publish) and
# the stream processor's APPLY_STREAM_BATCH: one rule, one text. Returns 1 when it wrote,
# 2 when the key already held exactly this row (left alone), 0 when the stored row is newer.
WRITE_IF_NEWER_FUNCTION = """
local function write_if_newer(key, event_text, created_text, expire_at, blob)
  local event = tonumber(event_text)
  local stored = redis.call('HMGET', key, 'e', 'c', 'v')
  local stored_event = tonumber(stored[1])
  if stored_event == event and tonumber(stored[2]) == tonumber(created_text) and stored[3] == blob then
    return 2
  end
  if stored_event == nil or event > stored_event
     or (event == stored_event and tonumber(created_text) >= (tonumber(stored[2]) or 0)) then
    redis.call('HSET', key, 'e', event_text, 'c', created_text, 'v', blob)
    if expire_at == '' then
      redis.call('PERSIST', key)
    else
      redis.call('PEXPIREAT', key, expire_at)
    end
    return 1
  end
  return 0
end
"""

WRITE_IF_NEWER = WRITE_IF_NEWER_FUNCTION + """
local written = 0
local unchanged = 0
for i = 1, #KEYS do
  local j = (i - 1) * 4
  local outcome = write_if_newer(KEYS[i], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4])
  if outcome == 1 then
    written = written + 1
  elseif outcome == 2 then
    unchanged = unchanged + 1
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


MERGE_IF_UNCHANGED = """
local merged = 0
for i = 1, #KEYS do
  local j = (i - 1) * 4
  local stored = redis.call('HMGET', KEYS[i], 'e', 'c', 'v')
  if stored[1] == ARGV[j + 1] and stored[2] == ARGV[j + 2] and stored[3] == ARGV[j + 3] then
    redis.call('HSET', KEYS[i], 'v', ARGV[j + 4])
    merged = merged + 1
  end
end
return merged
"""


PUSH_IF_NOT_BEHIND = """
local max_lag = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do
  local length = redis.call('XLEN', KEYS[i])
  if length > max_lag then
    return {-1, i, length}
  end
end
local pos = n + 2
for i = 1, n do
  for _ = 1, tonumber(ARGV[i + 1]) do
    redis.call('XADD', KEYS[i], '*', 'd', ARGV[pos])
    pos = pos + 1
  end
end
return {0}
"""

APPLY_STREAM_BATCH = WRITE_IF_NEWER_FUNCTION + """
local function position(text)
  local ms, seq = string.match(text or '0-0', '^(%d+)-(%d+)$')
  return tonumber(ms or 0), tonumber(seq or 0)
end

local function after(a, b)
  local a_ms, a_seq = position(a)
  local b_ms, b_seq = position(b)
  return a_ms > b_ms or (a_ms == b_ms and a_seq > b_seq)
end

local function arg_list(at)
  -- A count at ARGV[at], then that many values: the values and the index after them.
  local count, values = tonumber(ARGV[at]), {}
  for k = 1, count do
    values[k] = ARGV[at + k]
  end
  return values, at + count + 1
end

local function tile_merge(key, prefix, numeric, n, sums, lo, hi, event_text, created_text, blob, distinct)
  -- A batch's events of one tile, folded in the caller: one read and one write per tile.
  local stored = redis.call('HMGET', key, prefix .. 'n', prefix .. 's', prefix .. 'lo', prefix .. 'hi',
                            prefix .. 'le', prefix .. 'lc')
  local changes = {}
  if n > 0 then
    changes[#changes + 1] = prefix .. 'n'
    changes[#changes + 1] = string.format('%d', (tonumber(stored[1]) or 0) + n)
    if numeric == '1' then
      -- Added one by one in log order, as the offline fold does (float sums are exact to it).
      local s = tonumber(stored[2]) or 0
      for _, v in ipairs(sums) do
        s = s + tonumber(v)
      end
      changes[#changes + 1] = prefix .. 's'
      changes[#changes + 1] = string.format('%.17g', s)
      local stored_lo = tonumber(stored[3])
      if stored_lo == nil or tonumber(lo) < stored_lo then
        changes[#changes + 1] = prefix .. 'lo'
        changes[#changes + 1] = lo
      end
      local stored_hi = tonumber(stored[4])
      if stored_hi == nil or tonumber(hi) > stored_hi then
        changes[#changes + 1] = prefix .. 'hi'
        changes[#changes + 1] = hi
      end
    end
  end
  local le = tonumber(stored[5])
  local event = tonumber(event_text)
  if le == nil or event > le or (event == le and tonumber(created_text) >= tonumber(stored[6])) then
    changes[#changes + 1] = prefix .. 'le'
    changes[#changes + 1] = event_text
    changes[#changes + 1] = prefix .. 'lc'
    changes[#changes + 1] = created_text
    changes[#changes + 1] = prefix .. 'lv'
    changes[#changes + 1] = blob
  end
  if #changes > 0 then
    redis.call('HSET', key, unpack(changes))
  end
  for _, value in ipairs(distinct) do
    redis.call('HSET', key, prefix .. 'd|' .. value, '1')
  end
end

local owner = ARGV[1]
if owner ~= '' and redis.call('GET', KEYS[2]) ~= owner then
  return {-1, 0}
end
local stored = redis.call('HGET', KEYS[1], 'pos')
local new_position = ARGV[3]
if stored and not after(new_position, stored) then
  return {0, 0}
end
if (stored or '0-0') ~= ARGV[2] then
  return {-2, 0}
end
local partition = ARGV[6]
local i = 7
local counters = tonumber(ARGV[i]); i = i + 1
for _ = 1, counters do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2
end
local dead = tonumber(ARGV[i]); i = i + 1
for _ = 1, dead do
  redis.call('XADD', KEYS[3], '*', 'p', partition, 'id', ARGV[i], 'reason', ARGV[i + 1],
             'wm', ARGV[i + 2], 'd', ARGV[i + 3])
  i = i + 4
end
local written = 0
local latest = tonumber(ARGV[i]); i = i + 1
for _ = 1, latest do
  if write_if_newer(KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]) == 1 then
    written = written + 1
  end
  i = i + 5
end
local tiles = tonumber(ARGV[i]); i = i + 1
for _ = 1, tiles do
  local key, prefix, numeric, n = KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local sums, distinct
  sums, i = arg_list(i + 4)
  local lo, hi, event_text, created_text, blob = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  distinct, i = arg_list(i + 5)
  tile_merge(key, prefix, numeric, n, sums, lo, hi, event_text, created_text, blob, distinct)
end
local kept = tonumber(ARGV[i]); i = i + 1
for _ = 1, kept do
  redis.call('ZADD', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
local function expire(key, at)
  if redis.call('PTTL', key) == -1 then
    redis.call('PEXPIREAT', key, at)
  else
    redis.call('PEXPIREAT', key, at, 'GT')
  end
end
local tile_keys = tonumber(ARGV[i]); i = i + 1
for _ = 1, tile_keys do
  local key = KEYS[tonumber(ARGV[i])]
  local events_key = KEYS[tonumber(ARGV[i + 1])]
  local expire_at = ARGV[i + 2]
  redis.call('ZREMRANGEBYSCORE', events_key, '-inf', ARGV[i + 3])
  local groups = tonumber(ARGV[i + 4])
  i = i + 5
  local cutoff = {}
  for _ = 1, groups do
    cutoff[ARGV[i]] = tonumber(ARGV[i + 1]); i = i + 2
  end
  for _, name in ipairs(redis.call('HKEYS', key)) do
    local group, start = string.match(name, '^([^|]*)|(%-?%d+)|')
    local limit = cutoff[group]
    if limit ~= nil and tonumber(start) < limit then
      redis.call('HDEL', key, name)
    end
  end
  expire(key, expire_at)
  expire(events_key, expire_at)
end
redis.call('HSET', KEYS[1], 'pos', new_position, 'max_event', ARGV[4], 'updated_ms', ARGV[5])
return {1, written}
"""

REPLAY_DEAD_LETTERS = """
local moved = 0
for i = 1, #ARGV, 3 do
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], '*', 'd', ARGV[i + 2])
    moved = moved + 1
  end
end
return moved
"""

# A partition's lease: taken when free, renewed by its owner, never taken from a live owner.
ACQUIRE_LEASE = """
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# A view's generation flip: the served generation moves from ARGV[1] to ARGV[2] in one
# HSET, only if ARGV[1] is still the one served (two flips never interleave). Returns the
# generation served before (ARGV[1] when it flipped).
FLIP_GENERATION = """
local current = tonumber(redis.call('HGET', KEYS[1], 'cur') or '0')
if current ~= tonumber(ARGV[1]) then
  return current
end
redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', ARGV[1], 'at', ARGV[3], 'prev_until', ARGV[4])
return current
"""


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


WRITE_IF_NEWER_SHA = _sha(WRITE_IF_NEWER)
APPLY_STREAM_BATCH_SHA = _sha(APPLY_STREAM_BATCH)
DELETE_IF_EVENT_SHA = _sha(DELETE_IF_EVENT)
MERGE_IF_UNCHANGED_SHA = _sha(MERGE_IF_UNCHANGED)
FLIP_GENERATION_SHA = _sha(FLIP_GENERATION)
SCRIPTS = {
    _sha(source): source
    for source in (
        WRITE_IF_NEWER, DELETE_IF_EVENT, MERGE_IF_UNCHANGED, PUSH_IF_NOT_BEHIND, APPLY_STREAM_BATCH, REPLAY_DEAD_LETTERS, ACQUIRE_LEASE, RELEASE_LEASE,
        FLIP_GENERATION,
    )
}
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


def merge_if_unchanged_calls(rows: Sequence[tuple[bytes, bytes, bytes, bytes, bytes]]) -> list[tuple[object, ...]]:
    """One ``EVALSHA MERGE_IF_UNCHANGED`` per (key, event, created, old value, new value):
    one key per call, so it runs on a Redis Cluster too."""
    return [("EVALSHA", MERGE_IF_UNCHANGED_SHA, 1, key, *args) for key, *args in rows]


def _function_name(name: str, source: str) -> str:
    # The code's hash is part of the name: a cluster still holding an older library is
    # found out ("Function not found") and gets this one loaded, never runs old code.
    return f"{name}_{_sha(source)[:12]}"


_FUNCTIONS = {
    _sha(source): (_function_name(name, source), source)
    for name, source in (
        ("write_if_newer", WRITE_IF_NEWER), ("delete_if_event", DELETE_IF_EVENT),
        ("merge_if_unchanged", MERGE_IF_UNCHANGED), ("flip_generation", FLIP_GENERATION),
    )
}
FUNCTION_NAMES = {sha: name for sha, (name, _) in _FUNCTIONS.items()}
"""The Redis Function that runs each script (by the script's SHA1), for ``FCALL``."""
FUNCTION_LIBRARY = "#!lua name=feature_platform\n" + "".join(
    f"redis.register_function('{name}', function(KEYS, ARGV)\n{source}\nend)\n"
    for name, source in _FUNCTIONS.values()
)
"""The batch scripts as one Redis Functions library (``FUNCTION LOAD REPLACE``): on a Redis
Cluster, functions replicate to replicas and survive a failover; the script cache does not."""
