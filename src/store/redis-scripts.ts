/**
 * The Lua scripts of the `redis` store. Each runs atomically on the Redis that holds the
 * shard's slot (every key it touches carries the shard's hash tag), so a commit is all or
 * nothing and one round trip however many ops it carries. ioredis sends them by EVALSHA and
 * loads them again on NOSCRIPT.
 */

/** Fixed KEYS of the commit script, in this order; ready sets of topics follow. */
export const COMMIT_KEYS = ['msgs', 'payloads', 'held', 'topics', 'dedup', 'dedupKeys', 'dlq', 'dlqKeys', 'info', 'owner'] as const;

/** One-letter op codes of the commit script's ARGV. */
export const OP = {
  putMsg: 'M',
  delMsg: 'D',
  putDedup: 'K',
  delDedup: 'k',
  putDlq: 'Q',
  delDlq: 'q',
  putTopic: 'T',
  putShardInfo: 'I',
  dropPayload: 'X',
} as const;

/**
 * ARGV[1]: the owner token this store holds for the shard; a commit from anyone else (an
 * instance that lost the shard, or a load that came after it) is refused whole (fencing).
 * ARGV[2..]: ops, each an op code and its fields (see redis.ts `encodeOps`).
 */
export const COMMIT_LUA = `
local owner = redis.call('GET', KEYS[10])
if owner ~= ARGV[1] then
  return redis.error_reply('MBXFENCED ' .. tostring(owner))
end
local i = 2
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'M' then
    local id = ARGV[i + 1]
    redis.call('HSET', KEYS[1], id, ARGV[i + 2])
    local ready = KEYS[tonumber(ARGV[i + 3])]
    if ARGV[i + 4] == '1' then
      redis.call('ZADD', ready, 0, id)
      redis.call('SREM', KEYS[3], id)
    else
      redis.call('ZREM', ready, id)
      redis.call('SADD', KEYS[3], id)
    end
    if ARGV[i + 5] == '1' then redis.call('HSET', KEYS[2], id, ARGV[i + 6]) end
    i = i + 7
  elseif op == 'D' then
    local id = ARGV[i + 1]
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[tonumber(ARGV[i + 2])], id)
    redis.call('SREM', KEYS[3], id)
    i = i + 3
  elseif op == 'K' then
    redis.call('HSET', KEYS[5], ARGV[i + 1], ARGV[i + 2])
    redis.call('ZADD', KEYS[6], 0, ARGV[i + 1])
    i = i + 3
  elseif op == 'k' then
    redis.call('HDEL', KEYS[5], ARGV[i + 1])
    redis.call('ZREM', KEYS[6], ARGV[i + 1])
    i = i + 2
  elseif op == 'Q' then
    local id = ARGV[i + 1]
    redis.call('HSET', KEYS[7], id, ARGV[i + 2])
    redis.call('ZADD', KEYS[8], 0, id)
    if ARGV[i + 3] == '1' then redis.call('HSET', KEYS[2], id, ARGV[i + 4]) end
    i = i + 5
  elseif op == 'q' then
    redis.call('HDEL', KEYS[7], ARGV[i + 1])
    redis.call('ZREM', KEYS[8], ARGV[i + 1])
    i = i + 2
  elseif op == 'T' then
    if ARGV[i + 2] == '' then redis.call('HDEL', KEYS[4], ARGV[i + 1]) else redis.call('HSET', KEYS[4], ARGV[i + 1], ARGV[i + 2]) end
    i = i + 3
  elseif op == 'I' then
    redis.call('SET', KEYS[9], ARGV[i + 1])
    i = i + 2
  elseif op == 'X' then
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
    i = i + 2
  else
    return redis.error_reply('MBXBADOP ' .. tostring(op))
  end
end
return 1
`;

/**
 * KEYS: owner, epoch. ARGV: instance id, owner TTL in ms. Takes the shard for this instance
 * (free, expired, or held by this same instance before a restart) with a new epoch, so
 * whatever an earlier holder still has in flight is fenced off. Refuses while another
 * instance holds it.
 */
export const ACQUIRE_LUA = `
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, #ARGV[1] + 1) ~= ARGV[1] .. '/' then
  return redis.error_reply('MBXOWNED ' .. current .. ' ' .. redis.call('PTTL', KEYS[1]))
end
local token = ARGV[1] .. '/' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
`;

/** KEYS: owner. ARGV: token, TTL in ms. 1 when still ours (TTL renewed), 0 when lost. */
export const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** KEYS: owner. ARGV: token. Lets the shard go (a clean close), only if still ours. */
export const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
