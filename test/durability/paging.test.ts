/**
 * Bounded memory over LevelDB: a backlog far larger than the configured windows stays on disk,
 * RAM holds only the windows, consumers still get every message in FIFO order per topic, a
 * restart reads counters instead of the backlog, and idempotency keys that left RAM (or were
 * never in it after a restart) are found on disk.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { metricValue, shardServing, topicsOnShard, waitUntil } from '../../chaos/inspect.ts';
import { createMailbox, MailboxError, type Delivery, type MailboxRuntime } from '../../src/index.ts';

const SHARDS = 2;
const TOPICS = ['page:a', 'page:b', 'page:c'];
const PER_TOPIC = 120;
const WINDOW = 4;
const BUDGET = 8;
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

let dataDir: string;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mailbox-paging-'));
});
after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function open(queue: { backoffBaseMs?: number; backoffMaxMs?: number } = {}): Promise<MailboxRuntime> {
  return createMailbox({
    dataDir,
    durability: 'relaxed',
    shards: SHARDS,
    logLevel: 'silent',
    queue: { readyWindow: WINDOW, residentBudget: BUDGET, dedupResident: 4, replayWindowMs: 600_000, ...queue },
  });
}

async function resident(mb: MailboxRuntime): Promise<number> {
  let sum = 0;
  for (let s = 0; s < SHARDS; s++) sum += await metricValue(mb, `resident_messages{shard="${s}"}`);
  return sum;
}

async function readyDepth(mb: MailboxRuntime): Promise<number> {
  const text = await mb.metrics.render();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith('queue_depth{') && line.includes('kind="ready"')) sum += Number(line.split(' ').pop());
  return sum;
}

async function sendAll(mb: MailboxRuntime, round: string): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (let i = 0; i < PER_TOPIC; i += 20) {
    const inputs: Array<{ topic: string; idemKey: string; payload: Uint8Array }> = [];
    for (const topic of TOPICS) for (let j = i; j < i + 20; j++) inputs.push({ topic, idemKey: `${topic}/${j}`, payload: bytes(`${topic}/${j}`) });
    const results = await mb.sendBatch(inputs);
    results.forEach((r, k) => {
      assert.ok(!(r instanceof Error), `SEND ${round} ${k}: ${String(r)}`);
      ids.set(inputs[k]!.idemKey, r.msgId);
      assert.equal(r.duplicate, round === 'again', `SEND ${inputs[k]!.idemKey} in round ${round}`);
    });
  }
  return ids;
}

/** RECVs until the topic is empty, acking as it goes; returns the payloads in delivery order. */
async function drain(mb: MailboxRuntime, topic: string, max: number): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const ds: Delivery[] = await mb.recv({ topic, maxMessages: Math.min(3, max - got.length), visibilityMs: 30_000 });
    if (ds.length === 0) return got;
    for (const d of ds) {
      got.push(text(d.payload));
      await mb.ack(d.msgId, d.leaseId);
    }
    if (got.length >= max) return got;
  }
}

test('a backlog deeper than the windows stays on disk, comes back after a restart, and drains in FIFO order per topic', { timeout: 60_000 }, async () => {
  let mb = await open();
  let firstIds: Map<string, string>;
  try {
    firstIds = await sendAll(mb, 'first');
    assert.equal(await readyDepth(mb), TOPICS.length * PER_TOPIC, 'queue_depth counts what is on disk too');
    const held = await resident(mb);
    assert.ok(held <= BUDGET * SHARDS, `RAM holds at most the resident budget: ${held}`);
    // A few consumed before the restart, the rest after.
    const early = await drain(mb, TOPICS[0]!, 10);
    assert.deepEqual(early, Array.from({ length: 10 }, (_, j) => `${TOPICS[0]}/${j}`));
    assert.ok((await resident(mb)) <= BUDGET * SHARDS + WINDOW * TOPICS.length, 'paged-in windows stay small');
  } finally {
    await mb.stop();
  }

  mb = await open();
  try {
    assert.equal(mb.readiness().state, 'ready');
    assert.equal(await readyDepth(mb), TOPICS.length * PER_TOPIC - 10, 'the counters survive the restart');
    assert.equal(await resident(mb), 0, 'a restart reads counters, not the backlog');

    // Every key is past the RAM cache (4 per shard) and the filter is not built yet: the disk answers.
    const again = await sendAll(mb, 'again');
    assert.deepEqual(again, firstIds, 'a retried SEND after the restart answers with the first msgId');

    for (const [t, topic] of TOPICS.entries()) {
      const got = await drain(mb, topic, Number.POSITIVE_INFINITY);
      const from = t === 0 ? 10 : 0;
      assert.deepEqual(got, Array.from({ length: PER_TOPIC - from }, (_, j) => `${topic}/${j + from}`), `${topic} drains in order`);
    }
    assert.equal(await readyDepth(mb), 0);
    assert.equal(await resident(mb), 0);
  } finally {
    await mb.stop();
  }
});

test('a subscription is fed from disk page by page as it acks', { timeout: 60_000 }, async () => {
  const mb = await open();
  try {
    const topic = 'page:sub';
    const inputs = Array.from({ length: 100 }, (_, j) => ({ topic, idemKey: `sub/${j}`, payload: bytes(`sub/${j}`) }));
    for (const r of await mb.sendBatch(inputs)) assert.ok(!(r instanceof Error));
    const got: string[] = [];
    const acks: Array<Promise<void>> = [];
    const done = new Promise<void>((resolve) => {
      const session = mb.openSession({
        onDeliver: (_sub: string, ds: Delivery[]) => {
          for (const d of ds) {
            got.push(text(d.payload));
            acks.push(session.ack(d.msgId, d.leaseId));
          }
          if (got.length === inputs.length) resolve();
        },
      });
      void session.subscribe({ topic, prefetch: 3, visibilityMs: 30_000 });
    });
    await done;
    await Promise.all(acks);
    assert.deepEqual(got, inputs.map((i) => `sub/${i.idemKey.slice(4)}`));
  } finally {
    await mb.stop();
  }
});

test('a late ACK of a message that waits on disk after a rebuild is refused, not reported done', { timeout: 30_000 }, async () => {
  // No backoff: an expired lease makes the message ready at once, not delayed (held in RAM).
  const mb = await open({ backoffBaseMs: 0, backoffMaxMs: 0 });
  try {
    const [topic] = topicsOnShard(0, SHARDS, 1, 'late');
    const sent = await mb.send({ topic: topic!, idemKey: 'late-1', payload: bytes('late') });
    const [first] = await mb.recv({ topic: topic!, maxMessages: 1, visibilityMs: 50 });
    assert.equal(first?.msgId, sent.msgId);
    await new Promise((r) => setTimeout(r, 300)); // the lease expires: the message is ready again
    await mb.kill('/root/shards/shard-0', 'test: rebuild from the store');
    assert.ok(await waitUntil(() => shardServing(mb, 0), 10_000), 'the shard is back');
    // The rebuilt shard holds the message on disk only (nothing is paged in before a consumer asks).
    assert.equal(await metricValue(mb, 'resident_messages{shard="0"}'), 0);
    await assert.rejects(mb.ack(first!.msgId, first!.leaseId), (e: unknown) => e instanceof MailboxError && e.code === 'E_STALE_LEASE');
    const [again] = await mb.recv({ topic: topic!, maxMessages: 1, visibilityMs: 30_000 });
    assert.equal(again?.msgId, sent.msgId, 'the message is delivered again');
    await mb.ack(again!.msgId, again!.leaseId);
    // A repeated ACK of a finished message: paged or not, nothing of it is left, on disk or in RAM.
    await assert.rejects(mb.ack(again!.msgId, again!.leaseId), (e: unknown) => e instanceof MailboxError && e.code === 'E_NOT_FOUND');
  } finally {
    await mb.stop();
  }
});
