/**
 * LevelDB key layout, format 2 (keys are UTF-8 strings, values raw bytes):
 *
 * | key                             | value                                          |
 * |---------------------------------|------------------------------------------------|
 * | `r/<ssss>/<slot><msgId>`        | msgpack(MessageMeta) of a ready message        |
 * | `h/<ssss>/<msgId>`              | msgpack(MessageMeta) of a held (leased or delayed) message |
 * | `p/<ssss>/<msgId>`              | the payload bytes, as sent                     |
 * | `d/<ssss>/<dedup key>`          | msgpack(DedupEntry)                            |
 * | `q/<ssss>/<msgId>`              | msgpack(DlqEntry)                              |
 * | `t/<ssss>/<slot>`               | live messages of the topic, decimal            |
 * | `i/<ssss>`                      | msgpack(ShardInfo): DLQ depth, newest msgId    |
 * | `_/format`                      | the layout version, `"2"`                      |
 *
 * `<ssss>` is the shard index in 4 decimal digits, so one shard's records of one kind
 * are one contiguous range (`r/0003/` … `r/00030`, since `'0'` follows `'/'`).
 * `<slot>` names a topic: the 32-digit tenant, the topic's length in 3 digits, the topic.
 * The length keeps topics apart ("a" and "a0…" have different slots and never interleave),
 * so one topic's ready messages are one range, in msgId (ULID, so FIFO) order: the shard
 * pages them in a window at a time and never holds a deep backlog in RAM.
 *
 * Ready and held messages live apart so a load reads the held ones (bounded by the
 * in-flight limit, plus delayed ones) and the per-topic counts, never the backlog.
 * Payloads live apart from metas: a state change rewrites a ~200-byte meta and never the
 * payload. One `p/` key serves the live message and, after a move, its DLQ entry (the
 * payload rule of ops.ts), so moving to the DLQ and reprocessing never copy payloads.
 */
import type { MessageState, MsgId, ShardIndex, TenantId, Topic } from '../domain/types.ts';

export const FORMAT_KEY = '_/format';
export const FORMAT_VERSION = '2';

export type RecordKind = 'r' | 'h' | 'p' | 'd' | 'q' | 't';

const TENANT_LENGTH = 32;

/** Zero-padded numbers, made once: every key of every op has a shard part, every ready key a topic length. */
const padded4: string[] = [];
const padded3: string[] = [];

function shardPart(shard: ShardIndex): string {
  return (padded4[shard] ??= String(shard).padStart(4, '0'));
}

function topicSlot(tenant: TenantId, topic: Topic): string {
  return `${tenant}${(padded3[topic.length] ??= String(topic.length).padStart(3, '0'))}${topic}`;
}

/** The (tenant, topic) a slot names. */
export function parseSlot(slot: string): { tenant: TenantId; topic: Topic } {
  const length = Number(slot.slice(TENANT_LENGTH, TENANT_LENGTH + 3));
  return { tenant: slot.slice(0, TENANT_LENGTH) as TenantId, topic: slot.slice(TENANT_LENGTH + 3, TENANT_LENGTH + 3 + length) as Topic };
}

function readyKey(shard: ShardIndex, tenant: TenantId, topic: Topic, msgId: MsgId): string {
  return `r/${shardPart(shard)}/${topicSlot(tenant, topic)}${msgId}`;
}

function heldKey(shard: ShardIndex, msgId: MsgId): string {
  return `h/${shardPart(shard)}/${msgId}`;
}

/** Where a message's meta lives in a given state. */
export function metaKey(shard: ShardIndex, m: { msgId: MsgId; tenant: TenantId; topic: Topic }, state: MessageState): string {
  return state === 'ready' ? readyKey(shard, m.tenant, m.topic, m.msgId) : heldKey(shard, m.msgId);
}

export function payloadKey(shard: ShardIndex, msgId: MsgId): string {
  return `p/${shardPart(shard)}/${msgId}`;
}

export function dedupKey(shard: ShardIndex, key: string): string {
  return `d/${shardPart(shard)}/${key}`;
}

export function dlqKey(shard: ShardIndex, msgId: MsgId): string {
  return `q/${shardPart(shard)}/${msgId}`;
}

export function topicCountKey(shard: ShardIndex, tenant: TenantId, topic: Topic): string {
  return `t/${shardPart(shard)}/${topicSlot(tenant, topic)}`;
}

export function infoKey(shard: ShardIndex): string {
  return `i/${shardPart(shard)}`;
}

/** Iterator bounds covering every record of one kind in one shard. */
export function shardRange(kind: RecordKind, shard: ShardIndex): { gt: string; lt: string } {
  const prefix = `${kind}/${shardPart(shard)}/`;
  return { gt: prefix, lt: `${kind}/${shardPart(shard)}0` };
}

/** Iterator bounds covering one topic's ready messages, optionally after / before a msgId (ULID digits all sort below `~`). */
export function readyRange(shard: ShardIndex, tenant: TenantId, topic: Topic, after?: string, before?: string): { gt: string; lt: string } {
  const prefix = `r/${shardPart(shard)}/${topicSlot(tenant, topic)}`;
  return { gt: prefix + (after ?? ''), lt: prefix + (before ?? '~') };
}

/** The part of a key after `<kind>/<ssss>/`. */
export function keySuffix(key: string): string {
  return key.slice(7);
}
