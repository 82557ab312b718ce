"""The breaker's keys in Redis and the Lua scripts that change them atomically.

Every key starts with the breaker's prefix, so a hash-tagged prefix such as
``{vix:panic}`` puts them all in one Redis Cluster slot, which multi-key
scripts require:

``<prefix>:start_ts``
    The panic start, epoch seconds as text (``"1764201600.250000"``); absent
    outside a panic.
``<prefix>:activation``
    A counter bumped each time a panic starts or resumes; it tells one
    activation's tier transitions from the next one's.
``<prefix>:ended``
    The episode-end marker ``"<start_ts>|<ended_at>"`` a reset leaves behind
    (and the next trip clears), so a start lost to a restart or an eviction
    (no marker naming it or a later episode, no later activation) is restored
    while a real reset is respected, and a panic back within the grace window
    resumes its episode.
``<prefix>:delivered``
    One hash holding the marks that elect the one worker delivering each tier
    transition: field ``<start>|<activation>|<stakes>|<tier>`` per step
    claimed, and field ``owner``, the ``<start>|<activation>`` whose
    elections the hash vouches for. A trip writes ``owner`` (and prunes the
    marks of panics older than the marks' lifetime). An election that finds
    ``owner`` missing or naming another activation delivers nothing; if its
    activation is the current one, the marks were lost (eviction, a restart)
    and it writes ``owner`` back and marks every step up to its current
    tiers as delivered, so no step is ever delivered twice. ``owner`` also
    restores an evicted ``:activation`` for a worker that never knew it.

Every read touches all four keys, so an LRU eviction policy keeps them hot
(the hash has no TTL: ``volatile-lru`` never evicts it). A reset also bumps
``:activation``: two independent witnesses of the reset, so evicting either
one alone never brings the reset panic back; and a worker that has read the
reset never writes that start back at all.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

__all__ = ["DEDUP", "READ", "REPAIR", "RESET", "TRIP", "Call", "Flow", "Keys"]

T = TypeVar("T")
#: One script call: the script's name, its keys, its arguments.
Call = tuple[str, Sequence[str], Sequence[object]]
#: A sans-I/O operation: yields calls, receives their replies, returns a result.
Flow = Generator[Call, Any, T]


@dataclass(frozen=True, slots=True)
class Keys:
    """The Redis keys of one breaker, all under its prefix."""

    prefix: str

    @property
    def start(self) -> str:
        """The key holding the panic start."""
        return f"{self.prefix}:start_ts"

    @property
    def activation(self) -> str:
        """The key counting activations."""
        return f"{self.prefix}:activation"

    @property
    def ended(self) -> str:
        """The key holding the episode-end marker."""
        return f"{self.prefix}:ended"

    @property
    def marks(self) -> str:
        """The hash of the marks electing each transition's deliverer."""
        return f"{self.prefix}:delivered"


#: Read the state; write a known start back if the key vanished while no reset
#: or newer activation explains it (restart without persistence, eviction);
#: return TIME too so the Redis time mode costs no extra round trip.
#: An evicted counter is written back too: from the worker's snapshot, else
#: from the marks' owner. Touches the marks hash, so LRU keeps it hot.
#: KEYS: start, activation, ended, marks. ARGV: known start ("" if none), known
#: activation ("" if none).
READ: Final = """
local start = redis.call('GET', KEYS[1])
local activation = redis.call('GET', KEYS[2])
local ended = redis.call('GET', KEYS[3])
local owner = redis.call('HGET', KEYS[4], 'owner')
local restored = 0
local known = tonumber(ARGV[1])
if start and not activation then
  -- The counter alone was evicted: write back the one this start belongs to.
  if start == ARGV[1] and ARGV[2] ~= '' then
    activation = ARGV[2]
  elseif owner then
    local s, a = string.match(owner, '^(.*)|([^|]*)$')
    if s == start and a ~= '' then
      activation = a
    end
  end
  if activation then
    redis.call('SET', KEYS[2], activation)
  end
end
if not start and known then
  local marked = ended and tonumber(string.match(ended, '^([^|]*)|'))
  local reset_since = marked and marked >= known
  local newer = tonumber(activation) and tonumber(ARGV[2])
    and tonumber(activation) > tonumber(ARGV[2])
  if not reset_since and not newer then
    redis.call('SET', KEYS[1], ARGV[1])
    if not activation and ARGV[2] ~= '' then
      redis.call('SET', KEYS[2], ARGV[2])
      activation = ARGV[2]
    end
    start = ARGV[1]
    restored = 1
  end
end
local t = redis.call('TIME')
return {start or false, activation or false, restored, t[1], t[2]}
"""

#: Start a panic if none is on (first writer wins); resume the ended episode if
#: it ended at most the grace window ago. Clears the end marker; makes the marks
#: vouch for the new activation and prunes the marks of panics that started
#: more than their lifetime ago.
#: KEYS: start, activation, ended, marks. ARGV: now ("" = the server's TIME),
#: grace seconds, the marks' lifetime (seconds).
#: Returns {start, activation, started (0/1), resumed (0/1), TIME seconds, TIME microseconds}.
TRIP: Final = """
local t = redis.call('TIME')
local start = redis.call('GET', KEYS[1])
if start then
  return {start, redis.call('GET', KEYS[2]) or false, 0, 0, t[1], t[2]}
end
local now = ARGV[1]
if now == '' then
  now = string.format('%d.%06d', tonumber(t[1]), tonumber(t[2]))
end
start = now
local resumed = 0
local ended = redis.call('GET', KEYS[3])
if ended then
  local s, e = string.match(ended, '^([^|]*)|(.*)$')
  local ended_at = tonumber(e)
  if s and tonumber(s) and ended_at and tonumber(now) - ended_at <= tonumber(ARGV[2]) then
    start = s
    resumed = 1
  end
end
redis.call('SET', KEYS[1], start)
-- The marker has served (grace resume); left behind it would keep a lost
-- start of this activation from being restored.
redis.call('DEL', KEYS[3])
local activation = (tonumber(redis.call('GET', KEYS[2])) or 0) + 1
redis.call('SET', KEYS[2], activation)
local oldest = tonumber(now) - tonumber(ARGV[3])
for _, field in ipairs(redis.call('HKEYS', KEYS[4])) do
  local s = tonumber(string.match(field, '^([^|]*)|'))
  if field ~= 'owner' and not (s and s >= oldest) then
    redis.call('HDEL', KEYS[4], field)
  end
end
redis.call('HSET', KEYS[4], 'owner', start .. '|' .. activation)
return {start, tostring(activation), 1, resumed, t[1], t[2]}
"""

#: End the panic only if it is still the episode the caller means
#: (compare-and-delete), leave the end marker and bump the activation counter.
#: KEYS: start, ended, activation. ARGV: expected start, now ("" = the server's
#: TIME), marker TTL seconds. Returns the new activation, or 0 if nothing was reset.
RESET: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local activation = tostring((tonumber(redis.call('GET', KEYS[3])) or 0) + 1)
redis.call('SET', KEYS[3], activation)
local now = ARGV[2]
if now == '' then
  local t = redis.call('TIME')
  now = string.format('%d.%06d', tonumber(t[1]), tonumber(t[2]))
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1] .. '|' .. now, 'EX', ARGV[3])
return activation
"""

#: Replace a corrupt start, only if it still holds the corrupt value; a
#: replacement that is a new panic (nobody knew the start) makes the marks
#: vouch for it, so its transitions are delivered.
#: KEYS: start, marks. ARGV: corrupt value, replacement, owner to vouch for ("" = none).
REPAIR: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], 'owner', ARGV[3])
end
return 1
"""

#: Elect the deliverer of each step: claim its mark if absent (1 = won). If the
#: marks do not vouch for the caller's activation they were lost (eviction, a
#: restart): nobody knows what was delivered, so nothing is won; when that
#: activation is the current one, the hash is made to vouch for it again, with
#: every step the caller names marked as delivered.
#: KEYS: marks, start, activation. ARGV: owner ("<start>|<activation>"), the
#: number n of steps to elect, their n fields, then the fields of the caller's
#: other steps already reached.
DEDUP: Final = """
local n = tonumber(ARGV[2])
local won = {}
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  for i = 1, n do
    won[i] = redis.call('HSETNX', KEYS[1], ARGV[2 + i], '1')
  end
  return won
end
for i = 1, n do
  won[i] = 0
end
local start = redis.call('GET', KEYS[2])
if start and start .. '|' .. (redis.call('GET', KEYS[3]) or '') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'owner', ARGV[1])
  for i = 3, #ARGV do
    redis.call('HSET', KEYS[1], ARGV[i], '1')
  end
end
return won
"""
