/**
 * Retention: the pure selection (src/domain/retention.ts), the shard queue's purge (indexes
 * and ops in step), and the background passes of a running mailbox (LevelDB store, a 1 s
 * horizon — the configuration floor), which count and log what they purge.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import {
  isDlqExpired, isReadyExpired, retentionCutoff, retentionIntervalMs, selectExpiredDlq, selectExpiredMessages,
} from '../../src/domain/retention.ts';
import type { DlqEntry, MessageMeta, MsgId, StoreOp } from '../../src/domain/types.ts';
import { createMailbox } from '../../src/index.ts';
import { createLogger, type Logger } from '../../src/observability/logger.ts';
import { metricValue, waitUntil } from '../../chaos/inspect.ts';
import { makeQueue, sendInput, session, T0, TENANT, topic } from '../domain/harness.ts';

const meta = (id: string, enqueuedAt: number, state: MessageMeta['state']): MessageMeta => ({
  msgId: id as MsgId, tenant: TENANT, topic: topic('t'), idemKey: id, payloadHash: 'h', size: 1, enqueuedAt, attempt: 0, state, dueAt: 0, history: [],
});

describe('retention selection (pure)', () => {
  it('runs every min(60 s, horizon / 10), never more often than every 100 ms', () => {
    assert.equal(retentionIntervalMs(7 * 86_400_000), 60_000);
    assert.equal(retentionIntervalMs(600_000), 60_000);
    assert.equal(retentionIntervalMs(100_000), 10_000);
    assert.equal(retentionIntervalMs(1_000), 100);
    assert.equal(retentionIntervalMs(10), 100);
    assert.equal(retentionCutoff(T0, 1_000), T0 - 1_000);
  });

  it('selects ready and delayed messages enqueued before the cutoff, never a leased one', () => {
    const msgs = [meta('a', 100, 'ready'), meta('b', 100, 'delayed'), meta('c', 100, 'leased'), meta('d', 1_000, 'ready'), meta('e', 999, 'ready')];
    assert.deepEqual(selectExpiredMessages(msgs, 1_000).map((m) => m.msgId), ['a', 'b', 'e']);
    assert.deepEqual(selectExpiredMessages(msgs, 1_000, 2).map((m) => m.msgId), ['a', 'b']);
    assert.deepEqual(selectExpiredMessages(msgs, 1_000, 0), []);
    assert.equal(isReadyExpired({ state: 'leased', enqueuedAt: 0 }, 1_000), false);
  });

  it('selects DLQ entries that died before the cutoff', () => {
    const entries: DlqEntry[] = [
      { meta: meta('x', 0, 'ready'), reason: 'nacked', deadAt: 500 },
      { meta: meta('y', 0, 'ready'), reason: 'expired', deadAt: 1_500 },
    ];
    assert.deepEqual(selectExpiredDlq(entries, 1_000), ['x']);
    assert.equal(isDlqExpired({ deadAt: 1_000 }, 1_000), false);
  });
});

describe('ShardQueue.purgeOlderThan', () => {
  it('drops old ready and delayed messages from every index and emits delMsg for each; leased and young ones stay', () => {
    const q = makeQueue();
    const out: StoreOp[] = [];
    const oldReady = q.enqueue(sendInput('t', 'old ready'), T0, out).msgId;
    const oldDelayed = q.enqueue(sendInput('t', 'old delayed', { delayMs: 50_000 }), T0, out).msgId;
    const oldLeased = q.enqueue(sendInput('t', 'old leased'), T0, out).msgId;
    const young = q.enqueue(sendInput('t', 'young'), T0 + 5_000, out).msgId;
    // Lease 'old leased' (second in FIFO order): take two, put the first back by purging nothing else.
    const leased = q.lease({ tenant: TENANT, topic: topic('t'), visibilityMs: 60_000, maxMessages: 2, owner: session('s') }, T0 + 5_000, out);
    assert.deepEqual(leased.map((m) => m.msgId), [oldReady, oldLeased]);
    q.nack(oldReady, leased[0]!.leaseId!, { delayMs: 0 }, T0 + 5_000, out);

    const ops: StoreOp[] = [];
    const purged = q.purgeOlderThan(T0 + 1_000, ops);
    assert.deepEqual(new Set(purged.map((m) => m.msgId)), new Set([oldReady, oldDelayed]));
    assert.deepEqual(new Set(ops.map((o) => (o.op === 'delMsg' ? o.msgId : o.op))), new Set([oldReady, oldDelayed]));
    assert.deepEqual(q.depths(), { ready: 1, delayed: 0, leased: 1, dlq: 0 });
    assert.equal(q.get(oldReady), undefined);
    assert.equal(q.get(oldDelayed), undefined);
    // The ready FIFO holds only the young message; the delayed heap entry is skipped when due.
    const next = q.lease({ tenant: TENANT, topic: topic('t'), visibilityMs: 60_000, maxMessages: 10, owner: session('s') }, T0 + 5_000, []);
    assert.deepEqual(next.map((m) => m.msgId), [young]);
    const tick = q.tick(T0 + 60_000, []);
    assert.ok(!tick.promoted.has(`${TENANT}\u0000t`) || q.depths().ready === 0);
    assert.equal(q.get(oldLeased)?.state, 'leased');
  });

  it('stops at the limit and finds the rest on the next call', () => {
    const q = makeQueue();
    for (let i = 0; i < 5; i++) q.enqueue(sendInput(`t${i % 2}`, `m${i}`), T0, []);
    assert.equal(q.purgeOlderThan(T0 + 1, [], 3).length, 3);
    assert.equal(q.purgeOlderThan(T0 + 1, [], 3).length, 2);
    assert.deepEqual(q.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
  });
});

function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'warn', destination: sink }), lines };
}

describe('retention in a running mailbox', () => {
  it('purges ready, delayed and DLQ records past their horizon in the background, counts them in retention_purged_total and logs them; leased ones stay', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailbox-retention-'));
    const { logger, lines } = captureLogger();
    const mb = await createMailbox(
      { dataDir: join(dir, 'data'), durability: 'relaxed', shards: 2, logLevel: 'warn', retention: { readyMs: 1_000, dlqMs: 1_000 }, queue: { maxAttempts: 1 } },
      { logger },
    );
    try {
      const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
      for (let i = 0; i < 10; i++) await mb.send({ topic: 'ret:ready', idemKey: `r${i}`, payload: bytes(`r${i}`) });
      await mb.send({ topic: 'ret:delayed', idemKey: 'd', payload: bytes('d'), delayMs: 600_000 });
      await mb.send({ topic: 'ret:held', idemKey: 'h', payload: bytes('h') });
      const [held] = await mb.recv({ topic: 'ret:held', maxMessages: 1, visibilityMs: 600_000 });
      await mb.send({ topic: 'ret:dead', idemKey: 'x', payload: bytes('x') });
      const [dying] = await mb.recv({ topic: 'ret:dead', maxMessages: 1 });
      await mb.nack(dying!.msgId, dying!.leaseId, { delayMs: 0 }); // maxAttempts 1: to the DLQ

      assert.ok(await waitUntil(() => lines.some((l) => l.event === 'retention_purged' && l.kind === 'dlq'), 20_000), 'DLQ purge logged');
      assert.ok(
        await waitUntil(() => lines.filter((l) => l.event === 'retention_purged' && l.kind === 'ready').reduce((n, l) => n + Number(l.count), 0) >= 11, 20_000),
        'ready purge logged',
      );
      assert.equal(await metricValue(mb, 'retention_purged_total{kind="ready"}'), 11);
      assert.equal(await metricValue(mb, 'retention_purged_total{kind="dlq"}'), 1);
      assert.deepEqual(await mb.dlq.list({}), []);
      assert.deepEqual(await mb.recv({ topic: 'ret:ready', maxMessages: 100 }), []);
      // The leased message stays; once acked it is gone like any other.
      await mb.ack(held!.msgId, held!.leaseId);
      // Nothing of the purged records is left in the store either: a restart finds an empty mailbox.
      await mb.stop();
      const again = await createMailbox({ dataDir: join(dir, 'data'), shards: 2, logLevel: 'silent' });
      try {
        let live = 0;
        for (const ref of (again as unknown as { parts: { rt: { shards: Array<{ running?: { queue: { depths(): { ready: number; delayed: number; leased: number; dlq: number } } } }> } } }).parts.rt.shards) {
          const d = ref.running!.queue.depths();
          live += d.ready + d.delayed + d.leased + d.dlq;
        }
        assert.equal(live, 0);
      } finally {
        await again.stop();
      }
    } finally {
      await mb.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('purges a backlog that waits on disk (past the RAM window) without paging it in, and counts it', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailbox-retention-paged-'));
    const config = {
      dataDir: join(dir, 'data'), durability: 'relaxed' as const, shards: 2, logLevel: 'silent' as const,
      retention: { readyMs: 1_000, dlqMs: 1_000 }, queue: { readyWindow: 2, residentBudget: 2 },
    };
    const mb = await createMailbox(config);
    try {
      const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
      const inputs = Array.from({ length: 60 }, (_, i) => ({ topic: `deep:${i % 3}`, idemKey: `d${i}`, payload: bytes(`d${i}`) }));
      for (const r of await mb.sendBatch(inputs)) assert.ok(!(r instanceof Error));
      assert.ok((await metricValue(mb, 'resident_messages{shard="0"}')) + (await metricValue(mb, 'resident_messages{shard="1"}')) <= 4, 'most of it waits on disk');
      let purged = 0;
      assert.ok(
        await (async () => {
          const end = Date.now() + 20_000;
          while (Date.now() < end) {
            purged = await metricValue(mb, 'retention_purged_total{kind="ready"}');
            if (purged >= 60) return true;
            await new Promise((r) => setTimeout(r, 50));
          }
          return false;
        })(),
        `all 60 purged (${purged})`,
      );
      assert.equal(purged, 60, 'each counted once');
      for (let t = 0; t < 3; t++) assert.deepEqual(await mb.recv({ topic: `deep:${t}`, maxMessages: 100 }), []);
    } finally {
      await mb.stop().catch(() => {});
    }
    // Nothing is left on disk: a restart counts no backlog.
    const again = await createMailbox(config);
    try {
      let ready = 0;
      for (const line of (await again.metrics.render()).split('\n')) if (line.startsWith('queue_depth{') && line.includes('kind="ready"')) ready += Number(line.split(' ').pop());
      assert.equal(ready, 0);
    } finally {
      await again.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
