import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/store/memory.ts';
import { storeContract } from './contract.ts';
import { dlqEntry, meta, msgId, payload, S0, delMsg, storedMessages } from './fixtures.ts';

storeContract('memory', async () => {
  const store = new MemoryStore();
  await store.open();
  return {
    store,
    async reopen() {
      await store.close();
      await store.open();
      return store;
    },
    async dispose() {
      await store.close();
    },
  };
});

describe('memory store', () => {
  it('zero-fills the payload buffer of an acked message', async () => {
    const store = new MemoryStore();
    await store.open();
    const id = msgId();
    await store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: payload(32) }]);
    const held = (await store.getPayloads(S0, [id]))[0]!;
    assert.ok(held.some((b) => b !== 0));
    await store.commit([delMsg(meta(id))]);
    assert.ok(held.every((b) => b === 0));
  });

  it('zero-fills the payload buffer of a deleted DLQ entry but not of one moved there', async () => {
    const store = new MemoryStore();
    await store.open();
    const id = msgId();
    await store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: payload(32) }]);
    const held = (await store.getPayloads(S0, [id]))[0]!;
    const copy = Buffer.from(held);
    await store.commit([delMsg(meta(id)), { op: 'putDlq', shard: S0, entry: dlqEntry(meta(id)) }]);
    assert.deepEqual(Buffer.from(held), copy);
    await store.commit([{ op: 'delDlq', shard: S0, msgId: id }]);
    assert.ok(held.every((b) => b === 0));
  });

  it('never zero-fills the buffer the caller committed', async () => {
    const store = new MemoryStore();
    await store.open();
    const id = msgId();
    const mine = payload(32);
    const copy = Buffer.from(mine);
    await store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: mine }]);
    await store.commit([delMsg(meta(id))]);
    assert.deepEqual(Buffer.from(mine), copy);
  });

  it('applies a commit before the commit call returns', async () => {
    const store = new MemoryStore();
    await store.open();
    const id = msgId();
    void store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: payload() }]);
    assert.equal((await storedMessages(store, S0)).length, 1);
  });

  it('decides per commit when the fault switch is a function', async () => {
    const store = new MemoryStore();
    await store.open();
    store.faults.failWrites = (ops) => (ops.some((op) => op.op === 'delMsg') ? 'io' : false);
    await store.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: payload() }]);
    await assert.rejects(store.commit([delMsg(meta(msgId()))]), { code: 'E_UNAVAILABLE' });
    assert.equal(store.faults.injected, 1);
  });

  it('is not usable before open', async () => {
    const store = new MemoryStore();
    await assert.rejects(store.commit([]), { code: 'E_UNAVAILABLE' });
  });
});
