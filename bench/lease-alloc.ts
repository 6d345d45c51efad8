/**
 * Bytes a shard queue allocates per lease→ack cycle, and what a lease leaves behind once it is
 * acknowledged (src/domain/shard-queue.ts's lease table).
 *   node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128 --import tsx bench/lease-alloc.ts [cycles] [reps]
 * Allocation: heapUsed before and after `cycles` leases and their ACKs (batches of 100), with
 * a young generation large enough that no GC runs in between (a rep that saw a GC is dropped).
 * Retained: what the queue still holds of acknowledged leases before their 30 s deadline,
 * as heapUsed after a full GC minus heapUsed after a tick past the deadline and a full GC.
 * Messages are enqueued before each measurement; their own allocation is not counted.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { mathRng } from '../src/domain/clock.ts';
import { IdGenerator } from '../src/domain/ids.ts';
import { ShardQueue } from '../src/domain/shard-queue.ts';
import type { ShardIndex, SessionId, StoreOp, TenantId, Topic } from '../src/domain/types.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const cycles = Number(process.argv[2] ?? 100_000);
const reps = Number(process.argv[3] ?? 7);
const tenant = '00000000000000000000000000000000' as TenantId;
const topic = 'bench.topic.0' as Topic;
const owner = 'session-1' as SessionId;
const payload = new Uint8Array(1024);
const limits = {
  maxAttempts: 5, backoff: { baseMs: 200, maxMs: 60_000 }, maxVisibilityMs: 43_200_000,
  capacity: 10_000_000, dedupCapacity: 10_000_000, replayWindowMs: 300_000,
};
/** Bytes live in the young generation: a scavenge in between makes it shrink. */
const young = (): number => getHeapSpaceStatistics().reduce((n, s) => (s.space_name.startsWith('new_') ? n + s.space_used_size : n), 0);

function filled(t: number): ShardQueue {
  const q = new ShardQueue(0 as ShardIndex, limits, new IdGenerator(mathRng), mathRng);
  const out: StoreOp[] = [];
  for (let i = 0; i < cycles; i++) q.enqueue({ tenant, topic, idemKey: `k${i}`, payload, payloadHash: 'ab'.repeat(32) }, t, out);
  return q;
}

function run(q: ShardQueue, t: number): void {
  for (let done = 0; done < cycles; done += 100) {
    // The store ops are dropped at once, as a shard does after its commit.
    const out: StoreOp[] = [];
    t += 0.01;
    for (const m of q.lease({ tenant, topic, visibilityMs: 30_000, maxMessages: 100, owner }, t, out)) q.ack(m.msgId, m.leaseId!, out);
  }
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const alloc: number[] = [];
const kept: number[] = [];
for (let r = 0; r < reps; r++) {
  const t = 1_700_000_000_000 + r * 1e6;
  let q = filled(t);
  run(filled(t), t); // warm-up (JIT), thrown away
  gc();
  const y0 = young();
  const h0 = process.memoryUsage().heapUsed;
  run(q, t);
  const h1 = process.memoryUsage().heapUsed;
  if (young() - y0 >= 0.8 * (h1 - h0)) alloc.push((h1 - h0) / cycles); // (nearly) all of it still young: no GC ran
  // What the table still holds of the acknowledged leases: freed by a tick past their deadline.
  q = filled(t + 1);
  run(q, t + 1);
  gc();
  const k1 = process.memoryUsage().heapUsed;
  q.tick(t + 60_000, []);
  gc();
  kept.push((k1 - process.memoryUsage().heapUsed) / cycles);
}
const fmt = (xs: number[]): string => (xs.length ? `${median(xs).toFixed(0)} B (reps ${xs.map((x) => x.toFixed(0)).join(', ')})` : 'no rep without a GC');
process.stdout.write(`lease→ack, ${cycles} cycles: allocated ${fmt(alloc)}; retained after GC ${fmt(kept)}\n`);
