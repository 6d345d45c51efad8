import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { MsgId } from '../../src/domain/types.ts';
import { MailboxError } from '../../src/errors.ts';
import { LevelStore } from '../../src/store/level.ts';
import { createStore } from '../../src/store/open-store.ts';
import { storeContract } from './contract.ts';
import { dlqEntry, meta, msgId, payload, S0, S1, tempDir, delMsg, storedMessages } from './fixtures.ts';

storeContract('level', async () => {
  const tmp = tempDir('level-contract');
  let store = new LevelStore({ dir: join(tmp.dir, 'db'), durability: 'sync' });
  await store.open();
  return {
    store,
    async reopen() {
      await store.close();
      store = new LevelStore({ dir: join(tmp.dir, 'db'), durability: 'sync' });
      await store.open();
      return store;
    },
    async dispose() {
      await store.close();
      tmp.remove();
    },
  };
});

describe('level store', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  async function fresh(durability: 'sync' | 'relaxed' = 'sync'): Promise<{ store: LevelStore; dir: string }> {
    const tmp = tempDir('level');
    const store = new LevelStore({ dir: join(tmp.dir, 'db'), durability });
    await store.open();
    cleanups.push(async () => {
      await store.close();
      tmp.remove();
    });
    return { store, dir: tmp.dir };
  }

  it('coalesces 1,000 concurrent single-op commits into far fewer batches and resolves them in order', async () => {
    const { store } = await fresh();
    const ids = Array.from({ length: 1000 }, () => msgId());
    const order: number[] = [];
    const before = store.stats().batches;
    await Promise.all(ids.map((id, i) => store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: payload(1024) }]).then(() => order.push(i))));
    const stats = store.stats();
    assert.deepEqual(order, ids.map((_, i) => i));
    assert.ok(stats.batches - before <= 10, `${stats.batches - before} batches for 1,000 commits`);
    assert.equal(stats.commits, 1000);
    // One record per message, and the new topic's table record once per batch until one is durable.
    assert.ok(stats.ops >= 1001 && stats.ops <= 1000 + stats.batches - before, `${stats.ops} ops`);
    assert.equal((await storedMessages(store, S0)).length, 1000);
  });

  it('keeps coalescing while commits keep arriving during a batch', async () => {
    const { store } = await fresh();
    const waves: Array<Promise<void>> = [];
    for (let w = 0; w < 20; w++) {
      for (let i = 0; i < 50; i++) waves.push(store.commit([{ op: 'putMsg', shard: S1, meta: meta(msgId()), payload: payload(256) }]));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waves);
    const stats = store.stats();
    assert.equal(stats.commits, 1000);
    assert.ok(stats.batches < 1000 / 10, `${stats.batches} batches`);
  });

  it('fails every commit of a batch that fails, writes none of it, and writes later commits', async () => {
    const { store } = await fresh();
    store.faults.failNext(1, 'full');
    const doomed = Array.from({ length: 20 }, () => msgId());
    const results = await Promise.allSettled(doomed.map((id) => store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: payload() }])));
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof MailboxError && r.reason.code === 'E_UNAVAILABLE'));
    assert.equal(store.stats().failedBatches, 1);
    assert.deepEqual((await storedMessages(store, S0)), []);
    assert.deepEqual(await store.getPayloads(S0, doomed), doomed.map(() => undefined));
    const later = msgId();
    await store.commit([{ op: 'putMsg', shard: S0, meta: meta(later), payload: payload() }]);
    assert.deepEqual((await storedMessages(store, S0)).map((m) => m.msgId), [later]);
  });

  it('rejects only the commit whose op is invalid, not the others of its batch', async () => {
    const { store } = await fresh();
    const good = msgId();
    const [a, b] = await Promise.allSettled([
      store.commit([{ op: 'putMsg', shard: S0, meta: meta(good), payload: payload() }]),
      store.commit([{ op: 'nope' } as never]),
    ]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'rejected');
    assert.equal((await storedMessages(store, S0)).length, 1);
  });

  it('returns the same data after a close and a reopen with relaxed durability', async () => {
    const { store, dir } = await fresh('relaxed');
    const id = msgId();
    const body = payload(2000);
    await store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: body }]);
    void store.commit([{ op: 'putMsg', shard: S0, meta: meta(msgId()), payload: body }]);
    await store.close(); // waits for the queued commit
    const again = new LevelStore({ dir: join(dir, 'db'), durability: 'relaxed' });
    await again.open();
    cleanups.push(() => again.close());
    assert.equal((await storedMessages(again, S0)).length, 2);
    assert.deepEqual(Buffer.from((await again.getPayloads(S0, [id]))[0]!), Buffer.from(body));
  });

  it('refuses a data directory that another store holds open, with a clear error', async () => {
    const { dir } = await fresh();
    const second = new LevelStore({ dir: join(dir, 'db'), durability: 'sync' });
    await assert.rejects(second.open(), (err: unknown) => err instanceof MailboxError && err.code === 'E_UNAVAILABLE' && /is locked by another process/.test(err.message));
  });

  it('backs up a consistent snapshot while commits go on, and restores it into a new directory', async () => {
    const { store, dir } = await fresh();
    const stable: MsgId[] = [];
    for (let i = 0; i < 500; i++) stable.push(msgId());
    await store.commit(stable.map((id) => ({ op: 'putMsg' as const, shard: S0, meta: meta(id), payload: payload(512) })));
    await store.commit([
      delMsg(meta(stable[0]!)),
      { op: 'putDlq', shard: S0, entry: dlqEntry(meta(stable[0]!)) },
      { op: 'putDedup', shard: S0, key: 'dk', entry: { msgId: stable[1]!, payloadHash: 'x', expiresAt: 1 } },
      { op: 'putShardInfo', shard: S0, info: { dlqDepth: 1 } },
    ]);
    // Each concurrent commit writes a pair that must never be split by the snapshot.
    let writing = true;
    const pairs: Array<Promise<void>> = [];
    const writer = (async () => {
      while (writing) {
        const a = msgId();
        pairs.push(store.commit([
          { op: 'putMsg', shard: S1, meta: meta(a), payload: payload(64) },
          { op: 'putDedup', shard: S1, key: `pair-${a}`, entry: { msgId: a, payloadHash: 'y', expiresAt: 2 } },
        ]));
        await new Promise((r) => setImmediate(r));
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    const manifest = await store.backup(join(dir, 'backup'));
    writing = false;
    await writer;
    await Promise.all(pairs);
    assert.ok(manifest.keys > 500, `${manifest.keys} keys`); // one record per message (format 3), plus the pairs written meanwhile
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'backup', 'manifest.json'), 'utf8')), manifest);

    const restored = await LevelStore.restore(join(dir, 'backup'), join(dir, 'restored'));
    assert.equal(restored.keys, manifest.keys);
    const copy = new LevelStore({ dir: join(dir, 'restored'), durability: 'sync' });
    await copy.open();
    cleanups.push(() => copy.close());
    const s0 = await copy.loadShard(S0);
    assert.deepEqual(s0, await store.loadShard(S0));
    assert.equal(s0.dlqDepth, 1);
    assert.equal((await copy.getDlqPayload(S0, stable[0]!))?.length, 512);
    const s1 = await storedMessages(copy, S1);
    const s1dedup = await copy.scanDedup(S1, { limit: 1_000_000 });
    assert.equal(s1.length, s1dedup.length, 'no commit is half in the backup');
    for (const m of s1) assert.ok(s1dedup.some(([k]) => k === `pair-${m.msgId}`));
    assert.ok(s1.length < (await storedMessages(store, S1)).length, 'writes after the snapshot are not in it');
  });

  it('clears a write error that repeats (latched) by reopening the database once, then retries the batch; data written before survives', async () => {
    const { store } = await fresh();
    const before = msgId();
    await store.commit([{ op: 'putMsg', shard: S0, meta: meta(before), payload: payload(64) }]);
    // A real database closed behind the store's back fails every write with the same error,
    // as LevelDB does with a latched I/O error (ENOSPC) until it is reopened.
    await (store as unknown as { db: { close(): Promise<void> } }).db.close();
    const first = msgId();
    await assert.rejects(store.commit([{ op: 'putMsg', shard: S0, meta: meta(first), payload: payload(64) }]));
    assert.equal(store.stats().reopens, 0, 'one failure is not a latched error: no reopen yet');
    const second = msgId();
    await store.commit([{ op: 'putMsg', shard: S0, meta: meta(second), payload: payload(64) }]);
    assert.equal(store.stats().reopens, 1, 'the same error twice: reopened once, and the batch went through');
    const ids = (await storedMessages(store, S0)).map((m) => m.msgId).sort();
    assert.deepEqual(ids, [before, second].sort(), 'the refused batch was not written; the others are there');
  });

  it('refuses a data directory of another store format with E_CONFIG, naming both formats', async () => {
    const { store, dir } = await fresh();
    await store.close();
    // A format-1 directory (before ready messages were paged per topic): only the marker matters.
    const { ClassicLevel } = await import('classic-level');
    const raw = new ClassicLevel<string, string>(join(dir, 'db'));
    await raw.put('_/format', '1');
    await raw.close();
    const again = new LevelStore({ dir: join(dir, 'db'), durability: 'sync' });
    await assert.rejects(again.open(), (err: unknown) => err instanceof MailboxError && err.code === 'E_CONFIG' && /format 1, this build reads 3/.test(err.message));
  });

  it('refuses to back up into a directory that is not empty', async () => {
    const { store, dir } = await fresh();
    await assert.rejects(store.backup(dir), { code: 'E_CONFIG' });
  });

  it('refuses to restore from a directory that is not a backup', async () => {
    const { dir } = await fresh();
    await assert.rejects(LevelStore.restore(join(dir, 'db'), join(dir, 'x')), { code: 'E_CONFIG' });
  });
});

describe('createStore', () => {
  it('gives the memory store in amnesia and the level store under <dataDir>/store otherwise', async () => {
    assert.equal(createStore({ amnesia: true, dataDir: '/nonexistent', durability: 'sync' }).kind, 'memory');
    const tmp = tempDir('open-store');
    const store = createStore({ amnesia: false, dataDir: tmp.dir, durability: 'relaxed' });
    assert.equal(store.kind, 'level');
    assert.equal((store as LevelStore).dir, join(tmp.dir, 'store'));
    tmp.remove();
  });
});
