/**
 * LevelDB key layout, format 3 (keys are UTF-8 strings, values raw bytes): one record per
 * message from SEND to ACK, leases written per batch, failures on the rare path only.
 *
 * | key                                  | value                                                  |
 * |--------------------------------------|--------------------------------------------------------|
 * | `m/<ssss>/<tid>/<msgId>`             | the message: header (record-codec.ts) + payload bytes  |
 * | `a/<ssss>/<msgId>`                   | attempt record of a message that failed or waits: tid, attempt, state, dueAt, history |
 * | `l/<ssss>/<seq>`                     | delivery record: the messages one commit leased (msgId, tid, attempt, leaseId, owner, dueAt) |
 * | `n/<ssss>/<tid>`                     | topic table: msgpack([tenant, topic]) of topic id `tid` |
 * | `e/<ssss>/<bucket>/<dedup key>`      | msgpack(DedupEntry), bucketed by expiry (dedup-buckets.ts) |
 * | `q/<ssss>/<msgId>`                   | msgpack(DlqEntry)                                      |
 * | `p/<ssss>/<msgId>`                   | payload of a DLQ entry (live payloads are in `m/`)     |
 * | `t/<ssss>/<slot>`                    | live messages of the topic, decimal (as in format 2)   |
 * | `i/<ssss>`                           | msgpack(ShardInfo): DLQ depth, newest msgId            |
 * | `_/format`                           | the layout version, `"3"`                              |
 * | `_/dedup-bucket-ms`                  | the idempotency bucket width, decimal (chosen once)    |
 * | `_/f2-cleanup`                       | present while format-2 ranges still wait to be deleted (migrate-format2.ts) |
 *
 * `<ssss>` is the shard index in 4 decimal digits, so one shard's records of one kind are one
 * contiguous range (`m/0003/` … `m/00030`, since `'0'` follows `'/'`). `<tid>` is a per-shard
 * decimal topic id (interned once per new topic), so one topic's messages are one range in
 * msgId (ULID, so FIFO) order and a key is ~40 bytes whatever the topic's length.
 *
 * A lease is never written per message: the delivery record of a commit lists its members and
 * is deleted once the last of them left leased state (delivery-table.ts). An attempt record
 * exists only for a message with attempts or history, or one that is delayed, so a load reads
 * held messages (`l/` and `a/`, bounded by in-flight and failures) and never the ready backlog.
 */
import type { ShardIndex, TenantId, Topic } from '../domain/types.ts';

export const FORMAT_KEY = '_/format';
export const FORMAT_VERSION = '3';
export const CLEANUP_KEY = '_/f2-cleanup';

export type RecordKind = 'm' | 'a' | 'l' | 'n' | 'e' | 'p' | 'q' | 't' | 'i';

const TENANT_LENGTH = 32;

/** Zero-padded numbers, made once: every key of every op has a shard part. */
const padded4: string[] = [];
const padded3: string[] = [];

export function shardPart(shard: ShardIndex): string {
  return (padded4[shard] ??= String(shard).padStart(4, '0'));
}

export function topicSlot(tenant: TenantId, topic: Topic): string {
  return `${tenant}${(padded3[topic.length] ??= String(topic.length).padStart(3, '0'))}${topic}`;
}

/** The (tenant, topic) a slot names. */
export function parseSlot(slot: string): { tenant: TenantId; topic: Topic } {
  const length = Number(slot.slice(TENANT_LENGTH, TENANT_LENGTH + 3));
  return { tenant: slot.slice(0, TENANT_LENGTH) as TenantId, topic: slot.slice(TENANT_LENGTH + 3, TENANT_LENGTH + 3 + length) as Topic };
}

export function messageKey(shard: ShardIndex, tid: number, msgId: string): string {
  return `m/${shardPart(shard)}/${tid}/${msgId}`;
}

export function attemptKey(shard: ShardIndex, msgId: string): string {
  return `a/${shardPart(shard)}/${msgId}`;
}

export function deliveryKey(shard: ShardIndex, seq: number): string {
  return `l/${shardPart(shard)}/${String(seq).padStart(12, '0')}`;
}

export function topicTableKey(shard: ShardIndex, tid: number): string {
  return `n/${shardPart(shard)}/${tid}`;
}

export function payloadKey(shard: ShardIndex, msgId: string): string {
  return `p/${shardPart(shard)}/${msgId}`;
}

export function dlqKey(shard: ShardIndex, msgId: string): string {
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

/** Iterator bounds covering every record of one kind in every shard. */
export function kindRange(kind: RecordKind): { gt: string; lt: string } {
  return { gt: `${kind}/`, lt: `${kind}0` };
}

/** Iterator bounds of one topic's messages, optionally after / before a msgId (ULID digits all sort below `~`). */
export function topicRange(shard: ShardIndex, tid: number, after?: string, before?: string): { gt: string; lt: string } {
  const prefix = `m/${shardPart(shard)}/${tid}/`;
  return { gt: prefix + (after ?? ''), lt: prefix + (before ?? '~') };
}

/** The shard index of any `<kind>/<ssss>/…` key. */
export function keyShard(key: string): ShardIndex {
  return Number(key.slice(2, 6)) as ShardIndex;
}

/** The part of a key after `<kind>/<ssss>/`. */
export function keySuffix(key: string): string {
  return key.slice(7);
}
