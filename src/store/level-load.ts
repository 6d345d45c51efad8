/**
 * Reads the format-3 RAM tables back from LevelDB (shard-ram.ts): at open, and again after a
 * failed batch (RAM then no longer matches the disk). Reads `n/`, `a/`, `l/` of every shard
 * and seeks once per idempotency bucket; never a message range. A delivery record whose
 * members all left (acknowledged, settled, or listed again by a later record) is deleted.
 */
import type { ClassicLevel } from 'classic-level';
import type { MsgId, ShardIndex, TenantId, Topic } from '../domain/types.ts';
import { bucketPrefix, DedupBuckets, parseDedupRecordKey } from './dedup-buckets.ts';
import { keyShard, keySuffix, kindRange, messageKey } from './keys.ts';
import { decodeAttempt, decodeDelivery, packr, type LeaseMember } from './record-codec.ts';
import type { ShardRam } from './shard-ram.ts';

type Db = ClassicLevel<string, Buffer>;
const READ_CHUNK = 1000;

export async function loadTables(db: Db, ram: (shard: ShardIndex) => ShardRam, buckets: DedupBuckets, loadTopics: boolean): Promise<void> {
  if (loadTopics) {
    for await (const entries of chunks(db.iterator(kindRange('n')))) {
      for (const [k, v] of entries) {
        const [tenant, topic] = packr.unpack(v) as [TenantId, Topic];
        ram(keyShard(k)).loadTopic(Number(keySuffix(k)), tenant, topic);
      }
    }
  }
  for await (const entries of chunks(db.iterator(kindRange('a')))) {
    for (const [k, v] of entries) ram(keyShard(k)).attempts.set(keySuffix(k) as MsgId, decodeAttempt(v));
  }
  // The newest record listing a msgId is its lease; older ones are history.
  const latest = new Map<string, { shard: ShardIndex; seq: number; member: LeaseMember }>();
  const records: Array<{ shard: ShardIndex; seq: number; key: string }> = [];
  for await (const entries of chunks(db.iterator(kindRange('l')))) {
    for (const [k, v] of entries) {
      const shard = keyShard(k);
      const seq = Number(keySuffix(k));
      const r = ram(shard);
      if (seq >= r.nextSeq) r.nextSeq = seq + 1;
      records.push({ shard, seq, key: k });
      for (const member of decodeDelivery(v)) latest.set(`${shard}/${member.msgId}`, { shard, seq, member });
    }
  }
  const candidates = [...latest.values()].filter(({ shard, member }) => member.attempt > (ram(shard).attempts.get(member.msgId)?.attempt ?? 0));
  const alive = await existing(db, candidates.map(({ shard, member }) => messageKey(shard, member.tid, member.msgId)));
  candidates.forEach((c, i) => {
    if (alive[i]) ram(c.shard).join(c.seq, c.member);
  });
  const dead = records.filter((rec) => !ram(rec.shard).remaining.has(rec.seq)).map((rec) => ({ type: 'del' as const, key: rec.key }));
  if (dead.length > 0) await db.batch(dead, { sync: true });
  await loadBuckets(db, buckets);
}

/** Finds the live buckets with one seek each. */
async function loadBuckets(db: Db, buckets: DedupBuckets): Promise<void> {
  let from = kindRange('e').gt;
  const end = kindRange('e').lt;
  for (;;) {
    const [key] = await db.keys({ gt: from, lt: end, limit: 1 }).all();
    if (key === undefined) return;
    const shard = keyShard(key);
    const { bucket } = parseDedupRecordKey(key);
    buckets.add(shard, bucket);
    // Everything of this bucket sorts below the next bucket's prefix.
    from = bucketPrefix(shard, bucket + 1).slice(0, -1);
  }
}

/** Whether each key exists, READ_CHUNK keys per getMany. */
async function existing(db: Db, keys: readonly string[]): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < keys.length; i += READ_CHUNK) {
    for (const v of await db.getMany(keys.slice(i, i + READ_CHUNK))) out.push(v !== undefined);
  }
  return out;
}

/** Reads an iterator `READ_CHUNK` entries at a time and closes it. */
export async function* chunks<T>(it: { nextv(size: number): Promise<T[]>; close(): Promise<void> }): AsyncGenerator<T[]> {
  try {
    for (;;) {
      const batch = await it.nextv(READ_CHUNK);
      if (batch.length === 0) return;
      yield batch;
    }
  } finally {
    await it.close();
  }
}
