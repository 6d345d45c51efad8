/**
 * Redis key layout of the `redis` store. Every key of one shard carries the hash tag
 * `{<prefix>:<shard>}`, so a commit script touches one slot and Redis Cluster spreads the
 * shards over its masters.
 *
 * | key                          | type   | holds                                                        |
 * |------------------------------|--------|--------------------------------------------------------------|
 * | `{P:s}:m`                    | hash   | msgId → msgpack(MessageMeta) of every live message           |
 * | `{P:s}:p`                    | hash   | msgId → payload bytes (shared by a live message and its DLQ entry) |
 * | `{P:s}:h`                    | set    | msgIds of held (leased or delayed) messages: what a load reads |
 * | `{P:s}:r:<tenant>/<topic>`   | zset   | ready msgIds of one topic, all score 0: lexicographic = msgId = FIFO order |
 * | `{P:s}:t`                    | hash   | `<tenant>/<topic>` → msgpack([tenant, topic, live])          |
 * | `{P:s}:d` / `{P:s}:dk`       | hash / zset | idempotency key → msgpack(DedupEntry) / the keys in order, for the sweep |
 * | `{P:s}:q` / `{P:s}:qk`       | hash / zset | msgId → msgpack(DlqEntry) / the DLQ msgIds in order    |
 * | `{P:s}:i`                    | string | msgpack(ShardInfo): DLQ depth, newest msgId                  |
 * | `{P:s}:o`                    | string | the owner: `<instance>/<epoch>`, with a TTL the owner renews |
 * | `{P:s}:e`                    | string | the shard's fencing epoch, raised by every load              |
 */
import type { ShardIndex, TenantId, Topic } from '../domain/types.ts';

export interface ShardKeys {
  msgs: string;
  payloads: string;
  held: string;
  topics: string;
  dedup: string;
  dedupKeys: string;
  dlq: string;
  dlqKeys: string;
  info: string;
  owner: string;
  epoch: string;
  /** The ready set of one topic. */
  ready(tenant: TenantId, topic: Topic): string;
}

/** The keys of one shard under `prefix`. */
export function shardKeys(prefix: string, shard: ShardIndex): ShardKeys {
  const tag = `{${prefix}:${shard}}`;
  return {
    msgs: `${tag}:m`,
    payloads: `${tag}:p`,
    held: `${tag}:h`,
    topics: `${tag}:t`,
    dedup: `${tag}:d`,
    dedupKeys: `${tag}:dk`,
    dlq: `${tag}:q`,
    dlqKeys: `${tag}:qk`,
    info: `${tag}:i`,
    owner: `${tag}:o`,
    epoch: `${tag}:e`,
    ready: (tenant, topic) => `${tag}:r:${tenant}/${topic}`,
  };
}

/** What every key under `prefix` starts with: what a test deletes after itself. */
export function keyStart(prefix: string): string {
  return `{${prefix}:`;
}

/** Redis lexicographic range bounds: `(x` exclusive, `-` / `+` open. */
export function lexAfter(value: string | undefined): string {
  return value === undefined ? '-' : `(${value}`;
}

export function lexBefore(value: string | undefined): string {
  return value === undefined ? '+' : `(${value}`;
}
