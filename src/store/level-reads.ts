/**
 * The format-3 LevelDB store's reads (keys.ts), as functions over the database and the RAM
 * tables (shard-ram.ts, dedup-buckets.ts); level.ts wraps them (open state, retry after a reopen).
 */
import type { ClassicLevel } from 'classic-level';
import type { DedupEntry, MessageMeta, MsgId, ShardIndex, ShardInfo, TenantId, Topic } from '../domain/types.ts';
import { dedupRecordKey, parseDedupRecordKey, type DedupBuckets } from './dedup-buckets.ts';
import { infoKey, keySuffix, messageKey, parseSlot, payloadKey, shardRange, topicRange } from './keys.ts';
import { chunks } from './level-load.ts';
import { assembleMeta, decodeHeader, packr, payloadOf } from './record-codec.ts';
import type { ShardRam } from './shard-ram.ts';
import type { DedupScan, ReadyPageQuery, ShardSnapshot } from './store.ts';

type Db = ClassicLevel<string, Buffer>;

/**
 * Reads the topic's `m/` range and skips what is held: members of a live delivery record
 * (leased) and messages whose attempt record says delayed. It reads on past them, so a page
 * comes back short only at the end of the range.
 */
export async function readyPage(db: Db, r: ShardRam, tenant: TenantId, topic: Topic, query: ReadyPageQuery): Promise<MessageMeta[]> {
  const t = r.topic(tenant, topic, false);
  if (t === undefined || query.limit <= 0) return [];
  const out: MessageMeta[] = [];
  const it = db.iterator(topicRange(r.shard, t.tid, query.after, query.before));
  try {
    while (out.length < query.limit) {
      const entries = await it.nextv(Math.min(1000, query.limit - out.length + r.members.size));
      if (entries.length === 0) break;
      for (const [k, v] of entries) {
        const msgId = k.slice(k.lastIndexOf('/') + 1) as MsgId;
        if (r.members.has(msgId)) continue;
        const attempt = r.attempts.get(msgId);
        if (attempt !== undefined && attempt.state !== 'ready') continue;
        r.remember(msgId, t.tid);
        out.push(assembleMeta(msgId, tenant, topic, decodeHeader(v), attempt));
        if (out.length >= query.limit) break;
      }
    }
  } finally {
    await it.close();
  }
  return out;
}

/** Each key in every live bucket with one getMany; buckets newest first, so a key used again after it expired answers with its newer record. */
export async function getDedup(db: Db, buckets: DedupBuckets, shard: ShardIndex, keys: readonly string[]): Promise<Array<DedupEntry | undefined>> {
  const live = buckets.live(shard);
  if (keys.length === 0) return [];
  if (live.length === 0) return keys.map(() => undefined);
  const lookups: string[] = [];
  for (const k of keys) for (const b of live) lookups.push(dedupRecordKey(shard, b, k));
  const values = await db.getMany(lookups);
  return keys.map((_, i) => {
    for (let j = 0; j < live.length; j++) {
      const v = values[i * live.length + j];
      if (v !== undefined) return packr.unpack(v) as DedupEntry;
    }
    return undefined;
  });
}

/** In bucket order (oldest expiry first), key order inside a bucket. */
export async function scanDedup(db: Db, buckets: DedupBuckets, shard: ShardIndex, query: DedupScan): Promise<Array<[string, DedupEntry]>> {
  if (query.limit <= 0) return [];
  const range = shardRange('e', shard);
  let gt = range.gt;
  if (query.after !== undefined) gt = buckets.cursorFor(shard, query.after) ?? (await locateDedup(db, buckets, shard, query.after)) ?? range.gt;
  const entries = await db.iterator({ gt, lt: range.lt, limit: query.limit }).all();
  const page = entries.map(([levelKey, v]) => ({ levelKey, key: parseDedupRecordKey(levelKey).key, entry: packr.unpack(v) as DedupEntry }));
  buckets.scannedPage(shard, page);
  return page.map((p) => [p.key, p.entry]);
}

/** The LevelDB key of a dedup key in its newest live bucket. */
async function locateDedup(db: Db, buckets: DedupBuckets, shard: ShardIndex, key: string): Promise<string | undefined> {
  const candidates = buckets.live(shard).map((b) => dedupRecordKey(shard, b, key));
  const values = await db.getMany(candidates);
  const i = values.findIndex((v) => v !== undefined);
  return i < 0 ? undefined : candidates[i];
}

/**
 * Held messages (members of live delivery records, and delayed ones from their attempt
 * records), per-topic counts and the shard info: never the ready backlog (see keys.ts).
 * A lease's deadline is the one in RAM, so an in-process rebuild sees EXTENDs (never written).
 */
export async function loadShard(db: Db, r: ShardRam): Promise<ShardSnapshot> {
  const shard = r.shard;
  const wanted: Array<{ msgId: MsgId; tid: number }> = [];
  for (const { member } of r.members.values()) wanted.push(member);
  for (const [msgId, a] of r.attempts) if (a.state !== 'ready' && !r.members.has(msgId)) wanted.push({ msgId, tid: a.tid });
  const held: MessageMeta[] = [];
  for (let i = 0; i < wanted.length; i += 1000) {
    const part = wanted.slice(i, i + 1000);
    const values = await db.getMany(part.map((w) => messageKey(shard, w.tid, w.msgId)));
    part.forEach((w, j) => {
      const v = values[j];
      const t = r.topicsById.get(w.tid);
      if (v === undefined || t === undefined) return;
      held.push(assembleMeta(w.msgId, t.tenant, t.topic, decodeHeader(v), r.attempts.get(w.msgId), r.members.get(w.msgId)?.member));
    });
  }
  held.sort((a, b) => (a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0));
  const topics: ShardSnapshot['topics'] = [];
  for await (const entries of chunks(db.iterator(shardRange('t', shard)))) {
    for (const [k, v] of entries) topics.push({ ...parseSlot(keySuffix(k)), live: Number(v.toString()) });
  }
  const raw = await db.get(infoKey(shard));
  const info = raw === undefined ? { dlqDepth: 0 } : (packr.unpack(raw) as ShardInfo);
  const snapshot: ShardSnapshot = { ready: [], held, topics, dedup: [], dlqDepth: info.dlqDepth };
  if (info.newestId !== undefined) snapshot.newestId = info.newestId;
  return snapshot;
}

/** Live payloads from message records (the topic part of the key from RAM, else every topic of the shard), else DLQ payloads. */
export async function getPayloads(db: Db, r: ShardRam, ids: readonly MsgId[]): Promise<Array<Uint8Array | undefined>> {
  if (ids.length === 0) return [];
  const shard = r.shard;
  const out: Array<Uint8Array | undefined> = new Array(ids.length).fill(undefined);
  const known: number[] = [];
  const unknown: number[] = [];
  ids.forEach((id, i) => (r.tidOf(id) === undefined ? unknown : known).push(i));
  if (known.length > 0) {
    const values = await db.getMany(known.map((i) => messageKey(shard, r.tidOf(ids[i]!)!, ids[i]!)));
    known.forEach((i, j) => {
      out[i] = payloadOf(values[j]);
      if (out[i] === undefined) unknown.push(i);
    });
  }
  if (unknown.length === 0) return out;
  const dlq = await db.getMany(unknown.map((i) => payloadKey(shard, ids[i]!)));
  const rest = unknown.filter((i, j) => (out[i] = dlq[j]) === undefined);
  // Rare (a late ACK of a message paged out meanwhile): look in every topic of the shard.
  const tids = [...r.topicsById.keys()];
  for (const i of rest) {
    const values = await db.getMany(tids.map((tid) => messageKey(shard, tid, ids[i]!)));
    const hit = values.findIndex((v) => v !== undefined);
    if (hit >= 0) out[i] = payloadOf(values[hit]);
  }
  return out;
}
