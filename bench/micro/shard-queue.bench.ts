/**
 * One message's whole life in a shard's queue (src/domain/shard-queue.ts): enqueue (dedup,
 * id, FIFO) → lease (lease rings, owner maps) → ack, with the store ops it emits; single and in
 * batches of 100 (a SEND_BATCH / DELIVER / ACK_BATCH worth). No baseline: this is the
 * in-memory part of every message's server cost.
 * `lease→ack` and `lease→expire` take messages from a pre-filled queue (refilled when drawn
 * down, one call in thousands; lease→expire: 10,000 made anew every 2,000 calls, so
 * histories stay short), so they time the lease table without the enqueue: a lease
 * and its ACK, and a lease that runs out (tick requeues it, no backoff, ready again).
 */
import { mathRng } from '../../src/domain/clock.ts';
import { IdGenerator } from '../../src/domain/ids.ts';
import { ShardQueue } from '../../src/domain/shard-queue.ts';
import type { LeaseId, MsgId, SessionId, ShardIndex, StoreOp, TenantId, Topic } from '../../src/domain/types.ts';
import { makePayload } from '../lib.ts';
import type { MicroSuite } from './suite.ts';

const tenant = '00000000000000000000000000000000' as TenantId;
const topic = 'bench.topic.0' as Topic;
const owner = 'session-1' as SessionId;
const payload = makePayload(1, 1024);
const hash = 'ab'.repeat(32);
const limits = {
  maxAttempts: 5, backoff: { baseMs: 200, maxMs: 60_000 }, maxVisibilityMs: 43_200_000,
  capacity: 10_000_000, dedupCapacity: 10_000_000, replayWindowMs: 300_000,
};

function fresh(): ShardQueue {
  return new ShardQueue(0 as ShardIndex, limits, new IdGenerator(mathRng), mathRng);
}

let q = fresh();
let seq = 0;
const t = (): number => 1_700_000_000_000 + seq / 1000;

function cycle(batch: number): void {
  if (seq > 2_000_000) {
    q = fresh(); // the dedup window only grows within the replay window
    seq = 0;
  }
  const out: StoreOp[] = [];
  for (let i = 0; i < batch; i++) {
    q.enqueue({ tenant, topic, idemKey: `k${seq++}`, payload, payloadHash: hash }, t(), out);
  }
  const leased = q.lease({ tenant, topic, visibilityMs: 30_000, maxMessages: batch, owner }, t(), out);
  for (const m of leased) q.ack(m.msgId as MsgId, m.leaseId as LeaseId, out);
}

const POOL = 200_000;
let pool = fresh();
let poolT = 1_700_000_000_000;
let poolLeft = 0;

/** Lease `batch` and ACK them, from a queue filled once per POOL messages. */
function leaseAck(batch: number): void {
  if (poolLeft < batch) {
    pool = fresh();
    const out: StoreOp[] = [];
    for (let i = 0; i < POOL; i++) pool.enqueue({ tenant, topic, idemKey: `p${i}`, payload, payloadHash: hash }, poolT, out);
    poolLeft = POOL;
  }
  poolT += 0.01;
  const out: StoreOp[] = [];
  const leased = pool.lease({ tenant, topic, visibilityMs: 30_000, maxMessages: batch, owner }, poolT, out);
  for (const m of leased) pool.ack(m.msgId as MsgId, m.leaseId as LeaseId, out);
  poolLeft -= leased.length;
}

const expiryLimits = { ...limits, maxAttempts: 1_000_000, backoff: { baseMs: 0, maxMs: 0 } };
let exq = new ShardQueue(0 as ShardIndex, expiryLimits, new IdGenerator(mathRng), mathRng);
let exT = 1_700_000_000_000;
let exCalls = 0;

/** Lease `batch` for 1 s, let the second pass, tick: each is requeued (attempt + 1, history) and leased again later. */
function leaseExpire(batch: number): void {
  if (exCalls++ % 2_000 === 0) {
    exq = new ShardQueue(0 as ShardIndex, expiryLimits, new IdGenerator(mathRng), mathRng);
    const out: StoreOp[] = [];
    for (let i = 0; i < 10_000; i++) exq.enqueue({ tenant, topic, idemKey: `e${i}`, payload, payloadHash: hash }, exT, out);
  }
  const out: StoreOp[] = [];
  exq.lease({ tenant, topic, visibilityMs: 1_000, maxMessages: batch, owner }, exT, out);
  exT += 1_001;
  exq.tick(exT, out);
}

export const suite: MicroSuite = {
  name: 'shard-queue',
  tasks: [
    { name: 'enqueue→lease→ack ×1', fn: () => cycle(1) },
    { name: 'enqueue→lease→ack ×100', fn: () => cycle(100), opsPerCall: 100 },
    { name: 'lease→ack ×100', fn: () => leaseAck(100), opsPerCall: 100 },
    { name: 'lease→expire ×100', fn: () => leaseExpire(100), opsPerCall: 100 },
  ],
};
