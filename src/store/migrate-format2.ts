/**
 * Migration of a format-2 data directory (meta and payload apart, a lease moving the meta
 * between `r/` and `h/`) to format 3 (keys.ts), on first open. Crash-safe in three steps:
 *
 * 1. Write the format-3 records: every `r/` and `h/` meta with its `p/` payload becomes a
 *    message record (plus attempt record, delivery record for a leased one, topic table),
 *    every `d/` record an `e/` bucket record. Leftover format-3 ranges of an interrupted run
 *    are cleared first, so a re-run starts over; format 2 is still untouched and in force.
 * 2. Flip `_/format` to 3, with `_/f2-cleanup`, in one synced batch.
 * 3. Delete the format-2 ranges (`r/`, `h/`, `d/`, and `p/` keys that serve no DLQ entry),
 *    then `_/f2-cleanup`. An open that finds `_/f2-cleanup` runs this step again.
 *
 * The records go through the same translation as commits (level-batch.ts), so a migrated
 * record is exactly what format 3 writes for that message.
 */
import type { ClassicLevel } from 'classic-level';
import type { DedupEntry, MessageMeta, MsgId, ShardIndex, StoreOp } from '../domain/types.ts';
import { BUCKET_WIDTH_KEY, DEFAULT_BUCKET_MS, type DedupBuckets } from './dedup-buckets.ts';
import { CLEANUP_KEY, dlqKey, FORMAT_KEY, FORMAT_VERSION, keyShard, keySuffix, kindRange, payloadKey } from './keys.ts';
import { translate, type BatchOp } from './level-batch.ts';
import { chunks } from './level-load.ts';
import { packr } from './record-codec.ts';
import { ShardRam } from './shard-ram.ts';

type Db = ClassicLevel<string, Buffer>;
type Plain = Exclude<BatchOp, { type: 'copy' }>;

export interface MigrationReport {
  messages: number;
  dedup: number;
}

export async function migrateFormat2(db: Db, buckets: DedupBuckets): Promise<MigrationReport> {
  for (const kind of ['m', 'a', 'l', 'n', 'e'] as const) await db.clear(range(kind));
  await db.del(BUCKET_WIDTH_KEY);
  const shards = new Map<ShardIndex, ShardRam>();
  const ram = (shard: ShardIndex): ShardRam => {
    let r = shards.get(shard);
    if (r === undefined) shards.set(shard, (r = new ShardRam(shard)));
    return r;
  };
  // The store's own bucket table: the width (and its record) and the live buckets carry over.
  buckets.widthMs ??= DEFAULT_BUCKET_MS;
  buckets.unsaved = true;
  const report: MigrationReport = { messages: 0, dedup: 0 };
  const write = async (ops: StoreOp[]): Promise<void> => {
    const { batch, newTopics, savesWidth } = translate(ops, ram, buckets);
    await db.batch(batch as Plain[], { sync: false });
    for (const t of newTopics) t.durable = true;
    if (savesWidth) buckets.unsaved = false;
  };
  for (const kind of ['r', 'h'] as const) {
    for await (const entries of chunks(db.iterator(range(kind)))) {
      const metas = entries.map(([k, v]) => ({ shard: keyShard(k), meta: packr.unpack(v) as MessageMeta }));
      const payloads = await db.getMany(metas.map((m) => payloadKey(m.shard, m.meta.msgId)));
      const ops: StoreOp[] = [];
      // A meta without a payload (never written so by format 2) keeps an empty one rather than vanishing.
      metas.forEach((m, i) => ops.push({ op: 'putMsg', shard: m.shard, meta: m.meta, payload: payloads[i] ?? new Uint8Array(0) }));
      await write(ops);
      report.messages += ops.length;
    }
  }
  for await (const entries of chunks(db.iterator(range('d')))) {
    const ops: StoreOp[] = entries.map(([k, v]) => ({ op: 'putDedup', shard: keyShard(k), key: keySuffix(k), entry: packr.unpack(v) as DedupEntry }));
    await write(ops);
    report.dedup += ops.length;
  }
  await db.batch([
    { type: 'put', key: FORMAT_KEY, value: Buffer.from(FORMAT_VERSION) },
    { type: 'put', key: CLEANUP_KEY, value: Buffer.from('2') },
  ], { sync: true });
  await cleanupFormat2(db);
  return report;
}

/** Step 3: deletes what only format 2 reads. Idempotent. */
export async function cleanupFormat2(db: Db): Promise<void> {
  for (const kind of ['r', 'h', 'd'] as const) await db.clear(range(kind));
  for await (const keys of chunks(db.keys(range('p')))) {
    const entries = await db.getMany(keys.map((k) => dlqKey(keyShard(k), keySuffix(k) as MsgId)));
    const orphans = keys.filter((_, i) => entries[i] === undefined).map((key) => ({ type: 'del' as const, key }));
    if (orphans.length > 0) await db.batch(orphans);
  }
  await db.del(CLEANUP_KEY, { sync: true });
}

function range(kind: 'm' | 'a' | 'l' | 'n' | 'e' | 'r' | 'h' | 'd' | 'p'): { gt: string; lt: string } {
  return kindRange(kind as Parameters<typeof kindRange>[0]);
}
