"""Lua scripts of the real-time path, run atomically inside Redis.

``PUSH_IF_NOT_BEHIND`` appends a push to its partitions' streams, all or nothing: KEYS are
the partition streams the push touches; ARGV[1] is ``max_lag``, ARGV[1 + i] the number of
entries for KEYS[i], then every entry's ``d`` field, grouped by key in key order. When any
touched stream holds more than ``max_lag`` entries (the processor trims what it has
acknowledged, so the length is the partition's backlog), nothing is appended and the reply
is ``{-1, i, length}``; else ``{0}``.

``APPLY_STREAM_BATCH`` applies one planned batch of one partition (:mod:`.apply` builds its
arguments), atomically: it checks the partition's lease still names this owner (fencing:
a processor that lost its lease cannot write) and the per-partition applied position (a
batch at or before the stored position is a replay and changes nothing; a plan made from
a stale position is refused), then adds the counters, appends the dead letters, writes the
latest values with the online store's compare-and-set, folds the events into their tiles,
prunes tiles older than the longest window plus the lateness, and stores the new position
and watermark. Replies ``{1, latest values written}``, ``{0, 0}`` (already applied),
``{-1, 0}`` (lease lost) or ``{-2, 0}`` (stale position).
"""

from __future__ import annotations

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

# The online store's compare-and-set on (event, created), as a Lua function: the stream
# batch script below calls the same rule as a batch publish.
WRITE_IF_NEWER_FUNCTION = """
local function write_if_newer(key, event_text, created_text, expire_at, blob)
  local event = tonumber(event_text)
  local stored = redis.call('HMGET', key, 'e', 'c')
  local stored_event = tonumber(stored[1])
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

local function tile_add(key, prefix, numeric, has_value, value, event_text, created_text, blob)
  if has_value == '1' then
    redis.call('HINCRBY', key, prefix .. 'n', 1)
    if numeric == '1' then
      local v = tonumber(value)
      local s = tonumber(redis.call('HGET', key, prefix .. 's')) or 0
      redis.call('HSET', key, prefix .. 's', string.format('%.17g', s + v))
      local lo = tonumber(redis.call('HGET', key, prefix .. 'lo'))
      if lo == nil or v < lo then redis.call('HSET', key, prefix .. 'lo', value) end
      local hi = tonumber(redis.call('HGET', key, prefix .. 'hi'))
      if hi == nil or v > hi then redis.call('HSET', key, prefix .. 'hi', value) end
    end
  end
  local last = redis.call('HMGET', key, prefix .. 'le', prefix .. 'lc')
  local le = tonumber(last[1])
  local event = tonumber(event_text)
  if le == nil or event > le or (event == le and tonumber(created_text) >= tonumber(last[2])) then
    redis.call('HSET', key, prefix .. 'le', event_text, prefix .. 'lc', created_text, prefix .. 'lv', blob)
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
  written = written + write_if_newer(KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
  i = i + 5
end
local tiles = tonumber(ARGV[i]); i = i + 1
for _ = 1, tiles do
  tile_add(KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7])
  i = i + 8
end
local tile_keys = tonumber(ARGV[i]); i = i + 1
for _ = 1, tile_keys do
  local key = KEYS[tonumber(ARGV[i])]
  local expire_at = ARGV[i + 1]
  local groups = tonumber(ARGV[i + 2])
  i = i + 3
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
  if redis.call('PTTL', key) == -1 then
    redis.call('PEXPIREAT', key, expire_at)
  else
    redis.call('PEXPIREAT', key, expire_at, 'GT')
  end
end
redis.call('HSET', KEYS[1], 'pos', new_position, 'max_event', ARGV[4], 'updated_ms', ARGV[5])
return {1, written}
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
