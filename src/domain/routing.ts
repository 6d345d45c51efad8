/** Topic → shard: a stable FNV-1a hash of `{tenant, topic}`, the same on every instance. */
import type { ShardIndex, TenantId, Topic } from './types.ts';

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** One string naming a topic of a tenant: the key of a shard's per-topic state and of routing. */
export function topicKey(tenant: TenantId, topic: string): string {
  return `${tenant}\u0000${topic}`;
}

export function shardFor(tenant: TenantId, topic: Topic, shards: number): ShardIndex {
  return (fnv1a32(topicKey(tenant, topic)) % shards) as ShardIndex;
}

/** The `queue` label of a topic: its class, the part before the first `:` (bounded cardinality). */
export function topicClass(topic: string): string {
  const i = topic.indexOf(':');
  return i < 0 ? topic : topic.slice(0, i);
}
