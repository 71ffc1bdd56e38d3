/**
 * The Redis side of the limits store, as Lua scripts run atomically by Redis (EVALSHA). Time is
 * Redis's own (TIME), so replicas with skewed clocks still share one window. Keys, under the
 * configured prefix P and a subject S (`key:<id>`, `team:<name>`, `target:<id>`):
 *
 *   P:w:S:<rate>      hash: epoch second -> amount (a one-minute window in one-second buckets)
 *   P:f:S             sorted set: reservation id -> lease end (ms); requests in flight
 *   P:fs:S            the same for streams in flight
 *   P:ft:S            hash: reservation id -> tokens reserved
 *   P:b:S:<period>    hash: used, reserved (a token budget's calendar period)
 *
 * Arguments are one JSON document (ARGV[2]) so a request with any number of subjects is one call.
 * The keys are built inside the script: this targets a single Redis (or Sentinel), not Cluster.
 */

const COMMON = `
local P = ARGV[1]
local t = redis.call('TIME')
local nowSec = tonumber(t[1])
local now = nowSec * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Sum of the buckets still counted (second >= now - 60), dropping the others; the oldest kept.
local function window(key)
  local h = redis.call('HGETALL', key)
  local sum, oldest, live, dead = 0, nil, {}, {}
  for i = 1, #h, 2 do
    local s = tonumber(h[i])
    local a = tonumber(h[i + 1])
    if s < nowSec - 60 then
      dead[#dead + 1] = h[i]
    else
      sum = sum + a
      live[#live + 1] = { s, a }
      if oldest == nil or s < oldest then oldest = s end
    end
  end
  if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
  return sum, oldest, live
end

local function resetMs(oldest)
  if oldest == nil then return 0 end
  return math.max(0, (oldest + 61) * 1000 - now)
end
`;

export const RESERVE_SCRIPT = `${COMMON}
local spec = cjson.decode(ARGV[2])
local rates = {}
local sums = {}
local refusal = nil
for ci, c in ipairs(spec.c) do
  local S = P .. ':' .. c.s
  for _, r in ipairs(c.r) do
    local name, limit, amount = r[1], r[2], r[3]
    local sum, oldest, live = window(S .. ':w:' .. name)
    sums[#sums + 1] = sum
    rates[#rates + 1] = { c.s, name, limit, sum, resetMs(oldest) }
    if refusal == nil and sum + amount > limit then
      local retry = -1
      if amount <= limit then
        table.sort(live, function(a, b) return a[1] < b[1] end)
        local freed = 0
        retry = 1000
        for _, b in ipairs(live) do
          freed = freed + b[2]
          if sum - freed + amount <= limit then
            retry = math.max(1, (b[1] + 61) * 1000 - now)
            break
          end
        end
      end
      refusal = { kind = 'rate', subject = c.s, name = name, limit = limit, retryAfterMs = math.max(retry, 0), tooLarge = retry < 0 }
    end
  end
  if refusal == nil then
    redis.call('ZREMRANGEBYSCORE', S .. ':f', '-inf', now)
    if c.mr > 0 and redis.call('ZCARD', S .. ':f') >= c.mr then
      refusal = { kind = 'concurrency', subject = c.s, streams = false, limit = c.mr }
    elseif spec.st then
      redis.call('ZREMRANGEBYSCORE', S .. ':fs', '-inf', now)
      if c.ms > 0 and redis.call('ZCARD', S .. ':fs') >= c.ms then
        refusal = { kind = 'concurrency', subject = c.s, streams = true, limit = c.ms }
      end
    end
  end
  if refusal == nil and c.b then
    local v = redis.call('HMGET', S .. ':b:' .. c.b[1], 'used', 'reserved')
    local used = tonumber(v[1]) or 0
    local reserved = tonumber(v[2]) or 0
    if used + reserved + c.b[3] > c.b[2] then
      refusal = { kind = 'budget', subject = c.s, limit = c.b[2], used = used, reserved = reserved,
        retryAfterMs = math.max(0, c.b[4] - now), tooLarge = c.b[3] > c.b[2] }
    end
  end
end
if refusal ~= nil then
  return cjson.encode({ ok = false, at = nowSec, rates = rates, refusal = refusal })
end
local ri = 0
for _, c in ipairs(spec.c) do
  local S = P .. ':' .. c.s
  for _, r in ipairs(c.r) do
    ri = ri + 1
    local key = S .. ':w:' .. r[1]
    redis.call('HINCRBY', key, nowSec, r[3])
    redis.call('PEXPIRE', key, 62000)
    rates[ri][4] = sums[ri] + r[3]
    if rates[ri][5] == 0 then rates[ri][5] = math.max(0, (nowSec + 61) * 1000 - now) end
  end
  local lease = now + spec.l
  redis.call('ZADD', S .. ':f', lease, spec.id)
  redis.call('PEXPIRE', S .. ':f', spec.l)
  if spec.st then
    redis.call('ZADD', S .. ':fs', lease, spec.id)
    redis.call('PEXPIRE', S .. ':fs', spec.l)
  end
  if c.t > 0 then
    redis.call('HSET', S .. ':ft', spec.id, c.t)
    redis.call('PEXPIRE', S .. ':ft', spec.l)
  end
  if c.b then
    local bk = S .. ':b:' .. c.b[1]
    redis.call('HINCRBY', bk, 'reserved', c.b[3])
    redis.call('PEXPIREAT', bk, c.b[4] + 86400000)
  end
end
return cjson.encode({ ok = true, at = nowSec, rates = rates })
`;

export const SETTLE_SCRIPT = `${COMMON}
local spec = cjson.decode(ARGV[2])
for _, c in ipairs(spec.c) do
  local S = P .. ':' .. c.s
  for _, r in ipairs(c.r) do
    local key = S .. ':w:' .. r[1]
    local delta = r[2]
    if delta ~= 0 then
      local cur = redis.call('HGET', key, spec.at)
      if cur and spec.at >= nowSec - 60 then
        local next = math.max(0, tonumber(cur) + delta)
        redis.call('HSET', key, spec.at, next)
      elseif delta > 0 then
        redis.call('HINCRBY', key, nowSec, delta)
        redis.call('PEXPIRE', key, 62000)
      end
    end
  end
  redis.call('ZREM', S .. ':f', spec.id)
  if spec.st then redis.call('ZREM', S .. ':fs', spec.id) end
  redis.call('HDEL', S .. ':ft', spec.id)
  if c.b then
    local bk = S .. ':b:' .. c.b[1]
    local left = redis.call('HINCRBY', bk, 'reserved', -c.b[2])
    if left < 0 then redis.call('HSET', bk, 'reserved', 0) end
    redis.call('HINCRBY', bk, 'used', c.b[3])
    redis.call('PEXPIREAT', bk, c.b[4] + 86400000)
  end
end
return 1
`;

export const USAGE_SCRIPT = `${COMMON}
local queries = cjson.decode(ARGV[2])
local out = {}
for _, q in ipairs(queries) do
  local S = P .. ':' .. q.s
  local rates = {}
  for _, name in ipairs(q.r) do
    local sum, oldest = window(S .. ':w:' .. name)
    rates[#rates + 1] = { name, sum, resetMs(oldest) }
  end
  redis.call('ZREMRANGEBYSCORE', S .. ':f', '-inf', now)
  redis.call('ZREMRANGEBYSCORE', S .. ':fs', '-inf', now)
  local live = redis.call('ZRANGE', S .. ':f', 0, -1)
  local tokens = 0
  if #live > 0 then
    local v = redis.call('HMGET', S .. ':ft', unpack(live))
    for _, x in ipairs(v) do tokens = tokens + (tonumber(x) or 0) end
  end
  local entry = { s = q.s, rates = rates, inFlight = #live, streams = redis.call('ZCARD', S .. ':fs'), tokens = tokens }
  if q.b then
    local v = redis.call('HMGET', S .. ':b:' .. q.b, 'used', 'reserved')
    entry.budget = { tonumber(v[1]) or 0, tonumber(v[2]) or 0 }
  end
  out[#out + 1] = entry
end
return cjson.encode(out)
`;
