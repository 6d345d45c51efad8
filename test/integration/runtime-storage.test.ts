import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMailbox, MailboxError, type Delivery } from '../../src/index.ts';
import { metricValue, waitUntil } from '../../chaos/inspect.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const TOPICS = ['disk:a', 'disk:b', 'disk:c', 'disk:d'];

async function drainAll(mb: Awaited<ReturnType<typeof createMailbox>>): Promise<Delivery[]> {
  const out: Delivery[] = [];
  for (const topic of TOPICS) {
    for (;;) {
      const ds = await mb.recv({ topic, maxMessages: 100, visibilityMs: 30_000 });
      if (ds.length === 0) break;
      out.push(...ds);
    }
  }
  return out;
}

test(
  'a full disk refuses SENDs with E_UNAVAILABLE, degrades readiness for storage and counts rejected_total{reason="storage"}; clearing it brings readiness back to ready and loses nothing acknowledged',
  { timeout: 30_000 },
  async () => {
    const mb = await createMailbox({ amnesia: true, logLevel: 'silent', shards: 4 });
    try {
      // Before the fault: 40 accepted messages, 8 of them consumed and acknowledged.
      const accepted = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const r = await mb.send({ topic: TOPICS[i % 4]!, idemKey: `before-${i}`, payload: bytes(`before ${i}`) });
        accepted.add(r.msgId);
      }
      const acked = new Set<string>();
      for (const d of await mb.recv({ topic: TOPICS[0]!, maxMessages: 8, visibilityMs: 30_000 })) {
        await mb.ack(d.msgId, d.leaseId);
        acked.add(d.msgId);
      }
      assert.equal(acked.size, 8);

      mb.store.faults.failWrites = 'full';
      const results = await mb.sendBatch(TOPICS.map((topic, i) => ({ topic, idemKey: `during-${i}`, payload: bytes('x') })));
      for (const r of results) {
        assert.ok(r instanceof MailboxError, 'a SEND during the fault is refused');
        assert.equal(r.code, 'E_UNAVAILABLE');
        assert.ok(r.retryAfterMs !== undefined && r.retryAfterMs > 0, 'with a retry-after');
      }
      assert.ok(await waitUntil(() => mb.readiness().state === 'degraded', 10_000), 'readiness degrades');
      assert.ok(mb.readiness().reasons.some((r) => r.startsWith('storage')), `reasons name storage: ${mb.readiness().reasons.join('; ')}`);
      await assert.rejects(mb.send({ topic: TOPICS[0]!, idemKey: 'during-gate', payload: bytes('x') }), { code: 'E_UNAVAILABLE' });
      assert.ok((await metricValue(mb, 'rejected_total{reason="storage"}')) >= TOPICS.length, 'refusals counted as storage');

      // Nothing writes while SEND is refused at the gate: the shards must find out by themselves.
      mb.store.faults.clear();
      assert.ok(await waitUntil(() => mb.readiness().state === 'ready', 15_000), `readiness recovers: ${mb.readiness().reasons.join('; ')}`);

      const after = await mb.send({ topic: TOPICS[1]!, idemKey: 'after-0', payload: bytes('after') });
      assert.equal(after.duplicate, false);
      const got = await drainAll(mb);
      const ids = new Set(got.map((d) => d.msgId as string));
      for (const id of acked) assert.ok(!ids.has(id), `acknowledged ${id} came back`);
      for (const id of accepted) if (!acked.has(id)) assert.ok(ids.has(id), `accepted ${id} was lost`);
      assert.ok(ids.has(after.msgId));
      assert.equal(got.length, 40 - 8 + 1, 'nothing refused during the fault was stored');
    } finally {
      mb.store.faults.clear();
      await mb.stop();
    }
  },
);

test('a single failed commit makes the shard rebuild from the store and the next commit clears the storage alarm', { timeout: 30_000 }, async () => {
  const mb = await createMailbox({ amnesia: true, logLevel: 'silent', shards: 2 });
  try {
    const first = await mb.send({ topic: 'once:a', idemKey: 'k1', payload: bytes('one') });
    mb.store.faults.failNext(1, 'io');
    await assert.rejects(mb.send({ topic: 'once:a', idemKey: 'k2', payload: bytes('two') }), { code: 'E_UNAVAILABLE' });
    assert.ok(await waitUntil(() => mb.readiness().state === 'ready', 15_000), 'readiness recovers');
    const again = await mb.send({ topic: 'once:a', idemKey: 'k2', payload: bytes('two') });
    assert.equal(again.duplicate, false, 'the refused SEND left no idempotency record behind');
    const ds = await mb.recv({ topic: 'once:a', maxMessages: 10 });
    assert.deepEqual(ds.map((d) => d.msgId), [first.msgId, again.msgId]);
  } finally {
    await mb.stop();
  }
});
