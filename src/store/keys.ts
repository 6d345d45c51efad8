/**
 * LevelDB key layout (keys are UTF-8 strings, values raw bytes):
 *
 * | key                        | value                                              |
 * |----------------------------|----------------------------------------------------|
 * | `m/<ssss>/<msgId>`         | msgpack(MessageMeta) of a live message             |
 * | `p/<ssss>/<msgId>`         | the payload bytes, as sent                         |
 * | `d/<ssss>/<dedup key>`     | msgpack(DedupEntry)                                |
 * | `q/<ssss>/<msgId>`         | msgpack(DlqEntry)                                  |
 * | `_/format`                 | the layout version, `"1"`                          |
 *
 * `<ssss>` is the shard index in 4 decimal digits, so one shard's records of one kind
 * are one contiguous range (`m/0003/` … `m/00030`, since `'0'` follows `'/'`), and
 * msgIds (ULIDs) sort by age inside it.
 *
 * Payloads live apart from metas: a state change (lease, nack, requeue) rewrites a
 * ~200-byte meta and never the payload, and a shard rebuild scans metas only. One
 * `p/` key serves the live message and, after a move, its DLQ entry (the payload rule
 * of ops.ts), so moving to the DLQ and reprocessing never copy or read payloads.
 */
import type { MsgId, ShardIndex } from '../domain/types.ts';

export const FORMAT_KEY = '_/format';
export const FORMAT_VERSION = '1';

export type RecordKind = 'm' | 'p' | 'd' | 'q';

function shardPart(shard: ShardIndex): string {
  return String(shard).padStart(4, '0');
}

export function metaKey(shard: ShardIndex, msgId: MsgId): string {
  return `m/${shardPart(shard)}/${msgId}`;
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

/** Iterator bounds covering every record of one kind in one shard. */
export function shardRange(kind: RecordKind, shard: ShardIndex): { gt: string; lt: string } {
  const prefix = `${kind}/${shardPart(shard)}/`;
  return { gt: prefix, lt: `${kind}/${shardPart(shard)}0` };
}

/** The part of a key after `<kind>/<ssss>/`. */
export function keySuffix(key: string): string {
  return key.slice(7);
}
