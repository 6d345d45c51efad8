import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/store/memory.ts';
import { retentionOps } from '../../src/store/retention.ts';
import { dlqEntry, meta, msgId, payload, S0 } from './fixtures.ts';

describe('retention', () => {
  it('purges old ready and delayed messages and old DLQ entries, never a leased message', async () => {
    const store = new MemoryStore();
    await store.open();
    const [oldReady, oldDelayed, oldLeased, young, oldDead, youngDead] = Array.from({ length: 6 }, () => msgId());
    await store.commit([
      { op: 'putMsg', shard: S0, meta: meta(oldReady!, { enqueuedAt: 100 }), payload: payload() },
      { op: 'putMsg', shard: S0, meta: meta(oldDelayed!, { enqueuedAt: 100, state: 'delayed', dueAt: 5_000 }), payload: payload() },
      { op: 'putMsg', shard: S0, meta: meta(oldLeased!, { enqueuedAt: 100, state: 'leased', dueAt: 5_000 }), payload: payload() },
      { op: 'putMsg', shard: S0, meta: meta(young!, { enqueuedAt: 2_000 }), payload: payload() },
      { op: 'putDlq', shard: S0, entry: dlqEntry(meta(oldDead!), { deadAt: 100 }), payload: payload() },
      { op: 'putDlq', shard: S0, entry: dlqEntry(meta(youngDead!), { deadAt: 2_000 }), payload: payload() },
    ]);
    const snap = await store.loadShard(S0);
    const dlq = await store.listDlq(S0, { limit: 100 });
    const ops = retentionOps(S0, snap.messages, dlq, { readyBefore: 1_000, dlqBefore: 1_000 });
    assert.deepEqual(ops, [
      { op: 'delMsg', shard: S0, msgId: oldReady },
      { op: 'delMsg', shard: S0, msgId: oldDelayed },
      { op: 'delDlq', shard: S0, msgId: oldDead },
    ]);
    await store.commit(ops);
    assert.deepEqual((await store.loadShard(S0)).messages.map((m) => m.msgId), [oldLeased, young]);
    assert.equal(await store.getDlqPayload(S0, oldDead!), undefined);
    assert.ok(await store.getDlqPayload(S0, youngDead!));
  });

  it('purges nothing without a cutoff', () => {
    assert.deepEqual(retentionOps(S0, [meta(msgId(), { enqueuedAt: 0 })], [], {}), []);
  });
});
