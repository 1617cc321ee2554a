"""The Lua scripts of the Redis stream log. Each runs atomically on the Redis server, so several
processes may race on one stream and still agree: one terminal event, never two.

Keys, for a prefix ``p`` and a stream ``id``: ``p:s:id`` the Redis stream of events (entry id
``<seq>-0``, field ``j`` the event's JSON); ``p:m:id`` a hash with the metadata, ``last`` (the last
seq) and ``end`` (the terminal seq, once there is one); ``p:leases`` a sorted set of the streams
whose producer is alive, scored by when its lease runs out (Redis server time, in ms); ``p:c:id``
a flag asking the producer to cancel.
"""

from __future__ import annotations

# KEYS: events, meta, leases. ARGV: stream id, retention ms, max events, terminal (0/1), live TTL
# ms (a bound for streams nobody ends), then seq, json pairs. Returns 1, or -1 when the stream is
# unknown, -2 when it has ended already. Seqs already written are skipped: a producer whose reply
# was lost (Redis went away) sends the same events again, and they are written once. Sending its
# own terminal event again is a success, not an ended stream.
APPEND = """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local done = redis.call('HGET', KEYS[2], 'end')
if done then
  if ARGV[4] == '1' and tonumber(done) == tonumber(ARGV[#ARGV - 1]) then return 1 end
  return -2
end
local written = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
local last = nil
for i = 6, #ARGV, 2 do
  if tonumber(ARGV[i]) > written then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[i] .. '-0', 'j', ARGV[i + 1])
    last = ARGV[i]
  end
end
if last == nil then return 1 end
redis.call('HSET', KEYS[2], 'last', last)
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[2], 'end', last)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
elseif redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return 1
"""

# KEYS: events, meta, leases. ARGV: stream id, lease ms, live TTL ms, then the metadata's field,
# value pairs. A stream that Redis lost (it restarted empty) made again by its live producer, with
# a fresh lease; its events follow with APPEND. Returns 1 when it was made, 0 when it existed.
RESTORE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], 'last', 0)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('ZADD', KEYS[3], deadline, ARGV[1])
return 1
"""

# KEYS: leases. ARGV: lease ms, cancel-key prefix, then stream ids. Extends the leases that still
# exist (a reaped stream stays reaped) and returns the ids whose cancel flag is set.
HEARTBEAT = """
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local cancelled = {}
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[i])
  if redis.call('EXISTS', ARGV[2] .. ARGV[i]) == 1 then table.insert(cancelled, ARGV[i]) end
end
return cancelled
"""

# KEYS: leases. ARGV: lease ms, stream id. A new stream's first lease.
LEASE = """
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], deadline, ARGV[2])
return deadline
"""

# KEYS: leases. ARGV: key prefix, retention ms, the terminal event's JSON before and after its seq,
# max streams to reap. Ends every stream whose lease ran out and that has no terminal event yet
# with that event; returns the ids it ended, so exactly one caller stores each as interrupted.
REAP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local reaped = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local meta = ARGV[1] .. 'm:' .. id
  local events = ARGV[1] .. 's:' .. id
  if redis.call('EXISTS', meta) == 1 and redis.call('HEXISTS', meta, 'end') == 0 then
    local seq = tonumber(redis.call('HGET', meta, 'last') or '0') + 1
    redis.call('XADD', events, seq .. '-0', 'j', ARGV[3] .. seq .. ARGV[4])
    redis.call('HSET', meta, 'last', seq, 'end', seq)
    redis.call('PEXPIRE', events, ARGV[2])
    redis.call('PEXPIRE', meta, ARGV[2])
    table.insert(reaped, id)
  end
end
return reaped
"""

# KEYS: meta, events. ARGV: after (a seq). Nil when the stream is unknown; else the terminal seq
# (or "") and the JSON of the events after the seq joined by newlines, which JSON text never
# holds raw: one reply to parse instead of one per event, and consistent with the end flag.
READ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local last = redis.call('HGET', KEYS[1], 'end') or ''
local entries = redis.call('XRANGE', KEYS[2], (tonumber(ARGV[1]) + 1) .. '-0', '+')
local parts = {}
for i, entry in ipairs(entries) do parts[i] = entry[2][2] end
return {last, table.concat(parts, '\\n')}
"""
