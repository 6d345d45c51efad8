/**
 * Lua scripts of the redis store's shared mode (`redis.shared`): Redis holds the queue itself,
 * so any number of mailbox instances serve the same shards. Every state change is one script,
 * atomic on the Redis that holds the shard's slot:
 *
 * - enqueue a batch with idempotency and conflict detection,
 * - lease from a topic's ready set with a fencing lease id (`<shard>.<seq>`, one counter per shard),
 * - ACK / NACK / EXTEND checked against that lease id, whichever instance asks,
 * - tick: expired leases requeued with backoff or dead-lettered, due delayed messages made ready,
 * - release a session's leases, DLQ reprocess and purge.
 *
 * Layout (the tag `{<prefix>:<shard>}` is ARGV[1]; KEYS[1] is the tag's `:m`, so the script runs
 * on the shard's node). Records are the redis store's own (redis-keys.ts): `:m` metas (msgpack
 * maps), `:p` payloads, `:q`/`:qk` the DLQ, so its reads (DLQ listing, payloads) serve both modes.
 * Shared-mode keys besides:
 *
 * | key                   | type   | holds                                                   |
 * |-----------------------|--------|---------------------------------------------------------|
 * | `:r:<tenant>/<topic>` | zset   | ready msgIds of a topic, score = enqueue sequence (FIFO) |
 * | `:dl`                 | zset   | delayed msgIds by due time (ms)                         |
 * | `:ls`                 | zset   | leased msgIds by lease deadline (ms)                    |
 * | `:k:<dedup key>`      | string | msgpack [msgId, payloadHash], expiring with the replay window |
 * | `:seq`                | string | the shard's counter: enqueue order and lease ids        |
 * | `:c`                  | hash   | ready / delayed / leased counts                         |
 * | `:t`                  | hash   | `<tenant>/<topic>` → live messages                      |
 *
 * Times come from Redis (`TIME`), so instances with skewed clocks agree on deadlines. A
 * script touches keys it builds from the tag (all in the shard's slot): Redis Cluster runs it
 * on that slot's node.
 */

/** Shared helpers, prepended to every script. */
const PRELUDE = `
local tag = ARGV[1]
local M, P, Q, QK = tag .. ':m', tag .. ':p', tag .. ':q', tag .. ':qk'
local DL, LS, SEQ, C, T = tag .. ':dl', tag .. ':ls', tag .. ':seq', tag .. ':c', tag .. ':t'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function topic_key(meta) return meta.tenant .. '/' .. meta.topic end
local function ready_key(tk) return tag .. ':r:' .. tk end
local function wake(tk) redis.call('PUBLISH', tag .. ':wake', tk) end
local function gone(meta)
  local tk = topic_key(meta)
  if redis.call('HINCRBY', T, tk, -1) <= 0 then redis.call('HDEL', T, tk) end
end
local function make_ready(id, meta)
  meta.state = 'ready'
  meta.dueAt = 0
  redis.call('ZADD', ready_key(topic_key(meta)), meta.seq, id)
  redis.call('HINCRBY', C, 'ready', 1)
  wake(topic_key(meta))
end
-- Full jitter: random(0, min(max, base * 2^attempt)); the random number comes from the caller.
local function backoff(base, max, attempt, r)
  if base <= 0 then return 0 end
  return math.floor(r * math.min(max, base * 2 ^ math.max(0, attempt)))
end
-- Ends the attempt of a leased meta: history, then requeue (after delay) or the DLQ. Returns 'requeued' or 'dead'.
local function settle(id, meta, outcome, now, delay, reason, max_attempts)
  local record = { attempt = meta.attempt, outcome = outcome, at = now }
  if reason and reason ~= '' then record.reason = reason end
  if meta.owner then record.session = meta.owner end
  table.insert(meta.history, record)
  meta.leaseId = nil
  meta.owner = nil
  redis.call('ZREM', LS, id)
  redis.call('HINCRBY', C, 'leased', -1)
  if meta.attempt >= max_attempts then
    local entry = cmsgpack.pack({ meta = meta, reason = outcome, deadAt = now })
    redis.call('HDEL', M, id)
    redis.call('HSET', Q, id, entry)
    redis.call('ZADD', QK, 0, id)
    gone(meta)
    return 'dead', entry
  end
  if delay > 0 then
    meta.state = 'delayed'
    meta.dueAt = now + delay
    redis.call('ZADD', DL, meta.dueAt, id)
    redis.call('HINCRBY', C, 'delayed', 1)
  else
    make_ready(id, meta)
  end
  local packed = cmsgpack.pack(meta)
  redis.call('HSET', M, id, packed)
  return 'requeued', packed
end
-- The leased meta of (id, lease) as tenant may see it, or an error code: N not found, F another tenant's, S stale, D dead-lettered.
local function leased(id, lease, tenant)
  local raw = redis.call('HGET', M, id)
  if not raw then
    local dead = redis.call('HGET', Q, id)
    if dead and cmsgpack.unpack(dead).meta.tenant == tenant then return nil, 'D' end
    return nil, 'N'
  end
  local meta = cmsgpack.unpack(raw)
  if meta.tenant ~= tenant then return nil, 'F' end
  if meta.state ~= 'leased' or meta.leaseId ~= lease then return nil, 'S' end
  return meta, nil
end
`;

/**
 * ARGV: tag, replayWindowMs, capacity, then per item: msgId, meta (msgpack map, state ready
 * or delayed with its dueAt), payload, dedup key, payloadHash. Returns per item: `A` (accepted),
 * `D` + msgId (a duplicate of msgId), `C` + msgId (same key, other payload: conflict), `S` (shard full).
 */
export const ENQUEUE_LUA = `${PRELUDE}
local window, capacity = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
local queued = tonumber(redis.call('HGET', C, 'ready') or '0') + tonumber(redis.call('HGET', C, 'delayed') or '0')
local i = 4
while i <= #ARGV do
  local id, raw, payload, dkey, hash = ARGV[i], ARGV[i + 1], ARGV[i + 2], tag .. ':k:' .. ARGV[i + 3], ARGV[i + 4]
  local seen = redis.call('GET', dkey)
  if seen then
    local e = cmsgpack.unpack(seen)
    if e[2] == hash then table.insert(out, 'D'); table.insert(out, e[1]) else table.insert(out, 'C'); table.insert(out, e[1]) end
  elseif queued >= capacity then
    table.insert(out, 'S'); table.insert(out, '')
  else
    local meta = cmsgpack.unpack(raw)
    meta.seq = redis.call('INCR', SEQ)
    redis.call('HSET', P, id, payload)
    redis.call('SET', dkey, cmsgpack.pack({ id, hash }), 'PX', window)
    redis.call('HINCRBY', T, topic_key(meta), 1)
    if meta.state == 'delayed' then
      redis.call('ZADD', DL, meta.dueAt, id)
      redis.call('HINCRBY', C, 'delayed', 1)
    else
      make_ready(id, meta)
    end
    redis.call('HSET', M, id, cmsgpack.pack(meta))
    queued = queued + 1
    table.insert(out, 'A'); table.insert(out, '')
  end
  i = i + 5
end
return out
`;

/**
 * ARGV: tag, topic key, max messages, max bytes (0: none), visibility ms, owner, shard index.
 * Leases the oldest ready messages of the topic; returns [meta, payload] pairs (meta with its
 * new leaseId, owner, attempt and deadline).
 */
export const LEASE_LUA = `${PRELUDE}
local rk = ready_key(ARGV[2])
local n, max_bytes, visibility, owner, shard = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
if n <= 0 then return {} end
local now = now_ms()
local out = {}
local bytes, taken = 0, 0
local ids = redis.call('ZRANGE', rk, 0, n - 1)
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', M, id)
  if not raw then
    redis.call('ZREM', rk, id)
  else
    local meta = cmsgpack.unpack(raw)
    if max_bytes > 0 and taken > 0 and bytes + meta.size > max_bytes then break end
    redis.call('ZREM', rk, id)
    meta.attempt = meta.attempt + 1
    meta.state = 'leased'
    meta.dueAt = now + visibility
    meta.leaseId = shard .. '.' .. redis.call('INCR', SEQ)
    meta.owner = owner
    local packed = cmsgpack.pack(meta)
    redis.call('HSET', M, id, packed)
    redis.call('ZADD', LS, meta.dueAt, id)
    table.insert(out, packed)
    table.insert(out, redis.call('HGET', P, id) or '')
    bytes = bytes + meta.size
    taken = taken + 1
  end
end
if taken > 0 then
  redis.call('HINCRBY', C, 'ready', -taken)
  redis.call('HINCRBY', C, 'leased', taken)
end
return out
`;

/** ARGV: tag, tenant, then msgId, leaseId pairs. Returns per item `A` + topic key, or an error code (see `leased`). */
export const ACK_LUA = `${PRELUDE}
local tenant = ARGV[2]
local out = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local meta, err = leased(id, ARGV[i + 1], tenant)
  if meta then
    redis.call('HDEL', M, id)
    redis.call('HDEL', P, id)
    redis.call('ZREM', LS, id)
    redis.call('HINCRBY', C, 'leased', -1)
    gone(meta)
    table.insert(out, 'A'); table.insert(out, topic_key(meta))
  else
    table.insert(out, err); table.insert(out, '')
  end
end
return out
`;

/**
 * ARGV: tag, tenant, msgId, leaseId, delay ms (-1: backoff), reason, maxAttempts, backoff base,
 * backoff max, random in [0, 1). Returns [code, kind, record]: code as in `leased` or `A`;
 * kind `requeued` (record: the meta) or `dead` (record: the DLQ entry).
 */
export const NACK_LUA = `${PRELUDE}
local meta, err = leased(ARGV[3], ARGV[4], ARGV[2])
if not meta then return { err, '', '' } end
local delay = tonumber(ARGV[5])
if delay < 0 then delay = backoff(tonumber(ARGV[8]), tonumber(ARGV[9]), meta.attempt, tonumber(ARGV[10])) end
local kind, record = settle(ARGV[3], meta, 'nacked', now_ms(), delay, ARGV[6], tonumber(ARGV[7]))
return { 'A', kind, record }
`;

/** ARGV: tag, tenant, msgId, leaseId, ms. Returns [code, new deadline]. */
export const EXTEND_LUA = `${PRELUDE}
local meta, err = leased(ARGV[3], ARGV[4], ARGV[2])
if not meta then return { err, 0 } end
local now = now_ms()
if meta.dueAt <= now then return { 'E', 0 } end
meta.dueAt = now + tonumber(ARGV[5])
redis.call('HSET', M, ARGV[3], cmsgpack.pack(meta))
redis.call('ZADD', LS, meta.dueAt, ARGV[3])
return { 'A', meta.dueAt }
`;

/**
 * ARGV: tag, limit, maxAttempts, backoff base, backoff max, then \`limit\` random numbers.
 * Expired leases end as \`expired\` (requeued with backoff or dead-lettered), due delayed
 * messages become ready. Returns [ms until the next due lease or delayed message (-1: none),
 * then kind, outcome, record triples of what it settled].
 */
export const TICK_LUA = `${PRELUDE}
local limit, max_attempts, base, max = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
local out = { -1 }
local r = 6
for _, id in ipairs(redis.call('ZRANGEBYSCORE', LS, '-inf', now, 'LIMIT', 0, limit)) do
  local raw = redis.call('HGET', M, id)
  if not raw then
    redis.call('ZREM', LS, id)
  else
    local meta = cmsgpack.unpack(raw)
    local delay = backoff(base, max, meta.attempt, tonumber(ARGV[r] or '0'))
    r = r + 1
    local kind, record = settle(id, meta, 'expired', now, delay, nil, max_attempts)
    table.insert(out, kind); table.insert(out, 'expired'); table.insert(out, record)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', DL, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', DL, id)
  local raw = redis.call('HGET', M, id)
  if raw then
    local meta = cmsgpack.unpack(raw)
    redis.call('HINCRBY', C, 'delayed', -1)
    make_ready(id, meta)
    redis.call('HSET', M, id, cmsgpack.pack(meta))
  end
end
local next_due = -1
for _, z in ipairs({ LS, DL }) do
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  if first[2] then
    local wait = math.max(0, tonumber(first[2]) - now)
    if next_due < 0 or wait < next_due then next_due = wait end
  end
end
out[1] = next_due
return out
`;

/**
 * ARGV: tag, owner, maxAttempts, then msgIds the owner's instance saw it lease. Each one still
 * leased by that owner ends as `session_lost` and is ready again at once (or dead-lettered).
 * Returns kind, record pairs.
 */
export const RELEASE_LUA = `${PRELUDE}
local owner, max_attempts = ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local out = {}
for i = 4, #ARGV do
  local raw = redis.call('HGET', M, ARGV[i])
  if raw then
    local meta = cmsgpack.unpack(raw)
    if meta.state == 'leased' and meta.owner == owner then
      local kind, record = settle(ARGV[i], meta, 'session_lost', now, 0, nil, max_attempts)
      table.insert(out, kind); table.insert(out, record)
    end
  end
end
return out
`;

/** ARGV: tag, tenant, then msgIds. DLQ entries of the tenant go back to their topic, attempts reset. Returns how many. */
export const REVIVE_LUA = `${PRELUDE}
local tenant = ARGV[2]
local revived = 0
for i = 3, #ARGV do
  local raw = redis.call('HGET', Q, ARGV[i])
  if raw then
    local meta = cmsgpack.unpack(raw).meta
    if meta.tenant == tenant then
      redis.call('HDEL', Q, ARGV[i])
      redis.call('ZREM', QK, ARGV[i])
      meta.attempt = 0
      meta.history = {}
      meta.leaseId = nil
      meta.owner = nil
      redis.call('HINCRBY', T, topic_key(meta), 1)
      make_ready(ARGV[i], meta)
      redis.call('HSET', M, ARGV[i], cmsgpack.pack(meta))
      revived = revived + 1
    end
  end
end
return revived
`;

/** ARGV: tag, then msgIds: DLQ entries and their payloads deleted (purge). Returns how many. */
export const FORGET_DEAD_LUA = `${PRELUDE}
local n = 0
for i = 2, #ARGV do
  if redis.call('HDEL', Q, ARGV[i]) == 1 then
    redis.call('ZREM', QK, ARGV[i])
    redis.call('HDEL', P, ARGV[i])
    n = n + 1
  end
end
return n
`;

/** ARGV: tag. Returns [ready, delayed, leased, dlq]. */
export const DEPTHS_LUA = `${PRELUDE}
local c = redis.call('HMGET', C, 'ready', 'delayed', 'leased')
return { tonumber(c[1] or '0'), tonumber(c[2] or '0'), tonumber(c[3] or '0'), redis.call('ZCARD', QK) }
`;
