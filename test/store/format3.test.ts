import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { join } from 'node:path';
import type { MessageMeta, MsgId, ShardIndex, StoreOp } from '../../src/domain/types.ts';
import { LevelStore } from '../../src/store/level.ts';
import { meta, msgId, payload, S0, tempDir, TENANT, TOPIC } from './fixtures.ts';

const leasedMeta = (id: MsgId, attempt = 1): MessageMeta =>
  meta(id, { state: 'leased', attempt, dueAt: 1_700_000_030_000, leaseId: `L-${id}` as never, owner: 's1' as never });

describe('level store format 3', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  async function fresh(options: { dedupBucketMs?: number } = {}): Promise<{ store: LevelStore; reopen: () => Promise<LevelStore> }> {
    const tmp = tempDir('format3');
    const dir = join(tmp.dir, 'db');
    let store = new LevelStore({ dir, durability: 'relaxed', ...options });
    await store.open();
    cleanups.push(async () => {
      await store.close();
      tmp.remove();
    });
    return {
      store,
      async reopen() {
        await store.close();
        store = new LevelStore({ dir, durability: 'relaxed', ...options });
        await store.open();
        return store;
      },
    };
  }

  it('writes at most 3 LevelDB ops per message lifecycle on the happy path (SEND, lease, ACK, dedup expiry)', async () => {
    const { store } = await fresh({ dedupBucketMs: 1000 });
    const N = 100;
    const ids = Array.from({ length: N }, () => msgId());
    const s0 = store.stats().ops;
    // As a shard commits: one commit per SEND with its counters, concurrent, so they share batches.
    await Promise.all(ids.map((id, i) => store.commit([
      { op: 'putMsg', shard: S0, meta: meta(id), payload: payload(100) },
      { op: 'putDedup', shard: S0, key: `k${id}`, entry: { msgId: id, payloadHash: 'x', expiresAt: 5_000 } },
      { op: 'putTopic', shard: S0, tenant: TENANT, topic: TOPIC, live: i + 1 },
      { op: 'putShardInfo', shard: S0, info: { dlqDepth: 0, newestId: id } },
    ])));
    const s1 = store.stats().ops;
    for (let b = 0; b < N; b += 10) {
      await store.commit(ids.slice(b, b + 10).map((id): StoreOp => ({ op: 'putMsg', shard: S0, meta: leasedMeta(id), was: 'ready' })));
    }
    const s2 = store.stats().ops;
    await Promise.all(ids.map((id, i) => store.commit([
      { op: 'delMsg', shard: S0, msgId: id, tenant: TENANT, topic: TOPIC, state: 'leased' },
      { op: 'putTopic', shard: S0, tenant: TENANT, topic: TOPIC, live: N - i - 1 },
    ])));
    const acked = store.stats().ops;
    // A key of the next bucket: once the sweep drops it, every bucket before it has expired.
    await store.commit([{ op: 'putDedup', shard: S0, key: 'late', entry: { msgId: ids[0]!, payloadHash: 'x', expiresAt: 6_500 } }]);
    const s3 = store.stats().ops;
    // The sweep: scan, then drop every expired key.
    const scanned = await store.scanDedup(S0, { limit: 1000 });
    assert.equal(scanned.length, N + 1);
    await store.commit(scanned.map(([key]): StoreOp => ({ op: 'delDedup', shard: S0, key })));
    const s4 = store.stats().ops;
    const batches = store.stats().batches;
    const perMessage = { send: (s1 - s0) / N, lease: (s2 - s1) / N, ack: (acked - s2) / N, sweep: (s4 - s3) / N };
    // Message + dedup record per SEND, a delivery record per 10 leases and its delete, one delete per ACK;
    // counters once per key per batch (at most 4 per batch) and the topic table record on top.
    const overhead = (batches * 4 + 2) / N;
    assert.ok(perMessage.send <= 2 + overhead, JSON.stringify(perMessage));
    assert.ok(perMessage.lease <= 0.1, JSON.stringify(perMessage));
    assert.ok(perMessage.ack <= 1 + 0.1 + overhead, JSON.stringify(perMessage));
    assert.equal(perMessage.sweep, 0, 'a bucket clear covers the sweep');
    assert.ok(perMessage.send + perMessage.lease + perMessage.ack + perMessage.sweep <= 3 + 2 * overhead, JSON.stringify(perMessage));
    assert.equal(store.stats().bucketsCleared, 1);
    assert.deepEqual((await store.scanDedup(S0, { limit: 1000 })).map(([k]) => k), ['late'], 'the bucket of the newest expired key waits for a later sweep');
    assert.deepEqual(await store.getDedup(S0, [`k${ids[0]!}`]), [undefined]);
    console.log(`# ops per message: ${JSON.stringify(perMessage)} over ${batches} batches`);
  });

  it('keeps one delivery record per commit until its last member leaves, and hands surviving members back as leased after a restart', async () => {
    const h = await fresh();
    const [a, b, c] = [msgId(), msgId(), msgId()];
    await h.store.commit([a, b, c].map((id): StoreOp => ({ op: 'putMsg', shard: S0, meta: meta(id), payload: payload(8) })));
    await h.store.commit([a, b, c].map((id): StoreOp => ({ op: 'putMsg', shard: S0, meta: leasedMeta(id), was: 'ready' })));
    const s0 = h.store.stats().ops;
    await h.store.commit([{ op: 'delMsg', shard: S0, msgId: a, tenant: TENANT, topic: TOPIC, state: 'leased' }]);
    assert.equal(h.store.stats().ops - s0, 1, 'an ACK is one delete while other members remain');
    // b is NACKed back to ready: its attempt record is the rare path.
    const nacked = meta(b, { attempt: 1, history: [{ attempt: 1, outcome: 'nacked', at: 5 }] });
    await h.store.commit([{ op: 'putMsg', shard: S0, meta: nacked, was: 'leased' }]);
    // EXTEND of c: RAM only.
    const s1 = h.store.stats().ops;
    await h.store.commit([{ op: 'putMsg', shard: S0, meta: { ...leasedMeta(c), dueAt: 1_700_000_090_000 }, was: 'leased' }]);
    assert.equal(h.store.stats().ops - s1, 0);
    const inProcess = await h.store.loadShard(S0);
    assert.deepEqual(inProcess.held.map((m) => [m.msgId, m.state, m.dueAt]), [[c, 'leased', 1_700_000_090_000]], 'an in-process rebuild sees the extended deadline');
    assert.deepEqual((await h.store.readyPage(S0, TENANT, TOPIC, { limit: 10 })), [nacked], 'a leased message is never paged as ready');
    const store = await h.reopen();
    const snap = await store.loadShard(S0);
    assert.deepEqual(snap.held, [{ ...leasedMeta(c) }], 'after a restart the lease comes back as written (EXTEND not kept)');
    assert.deepEqual(await store.readyPage(S0, TENANT, TOPIC, { limit: 10 }), [nacked]);
    const s2 = store.stats().ops;
    await store.commit([{ op: 'delMsg', shard: S0, msgId: c, tenant: TENANT, topic: TOPIC, state: 'leased' }]);
    assert.equal(store.stats().ops - s2, 2, 'the last member takes its delivery record with it');
    assert.deepEqual((await (await h.reopen()).loadShard(S0)).held, []);
  });

  it('hands delayed messages back in held from their attempt records, and pages ready ones past them', async () => {
    const h = await fresh();
    const ids = Array.from({ length: 6 }, () => msgId());
    await h.store.commit(ids.map((id): StoreOp => ({ op: 'putMsg', shard: S0, meta: meta(id), payload: payload(4) })));
    const delayed = meta(ids[1]!, { state: 'delayed', attempt: 1, dueAt: 9, history: [{ attempt: 1, outcome: 'expired', at: 3 }] });
    await h.store.commit([{ op: 'putMsg', shard: S0, meta: delayed, was: 'ready' }]);
    const store = await h.reopen();
    assert.deepEqual((await store.loadShard(S0)).held, [delayed]);
    const page = await store.readyPage(S0, TENANT, TOPIC, { limit: 3 });
    assert.deepEqual(page.map((m) => m.msgId), [ids[0], ids[2], ids[3]], 'a full page although one record in the range is held');
    const rest = await store.readyPage(S0, TENANT, TOPIC, { after: page[2]!.msgId, limit: 10 });
    assert.deepEqual(rest.map((m) => m.msgId), [ids[4], ids[5]]);
  });

  it('keeps a key found inside its bucket and answers with the newer record when a key is reused', async () => {
    const { store } = await fresh({ dedupBucketMs: 1000 });
    const [a, b] = [msgId(), msgId()];
    await store.commit([{ op: 'putDedup', shard: S0, key: 'k', entry: { msgId: a, payloadHash: 'x', expiresAt: 1500 } }]);
    await store.commit([{ op: 'putDedup', shard: S0, key: 'k', entry: { msgId: b, payloadHash: 'y', expiresAt: 4500 } }]);
    assert.deepEqual(await store.getDedup(S0, ['k', 'other']), [{ msgId: b, payloadHash: 'y', expiresAt: 4500 }, undefined]);
    // A delete of a key no scan handed out deletes it in every bucket.
    await store.commit([{ op: 'delDedup', shard: S0 as ShardIndex, key: 'k' }]);
    assert.deepEqual(await store.getDedup(S0, ['k']), [undefined]);
    await store.commit([{ op: 'putDedup', shard: S0, key: 'k', entry: { msgId: a, payloadHash: 'x', expiresAt: 1500 } }]);
    await store.commit([{ op: 'putDedup', shard: S0, key: 'k', entry: { msgId: b, payloadHash: 'y', expiresAt: 4500 } }]);
    // The sweep sees both copies; dropping the expired one is a no-op and leaves the newer one answering.
    assert.equal((await store.scanDedup(S0, { limit: 10 })).length, 2);
    await store.commit([{ op: 'delDedup', shard: S0 as ShardIndex, key: 'k' }]);
    assert.deepEqual(await store.getDedup(S0, ['k']), [{ msgId: b, payloadHash: 'y', expiresAt: 4500 }]);
  });

  it('chooses the bucket width from the first record\'s time to live and keeps it across a restart', async () => {
    const h = await fresh();
    const week = 7 * 24 * 3_600_000;
    const id = msgId();
    await h.store.commit([{ op: 'putDedup', shard: S0, key: 'long', entry: { msgId: id, payloadHash: 'x', expiresAt: Date.now() + week } }]);
    const store = await h.reopen();
    await store.commit([{ op: 'putDedup', shard: S0, key: 'short', entry: { msgId: id, payloadHash: 'x', expiresAt: Date.now() + 60_000 } }]);
    const { ClassicLevel } = await import('classic-level');
    await store.close();
    const raw = new ClassicLevel<string, string>(store.dir);
    const width = Number(await raw.get('_/dedup-bucket-ms'));
    const buckets = new Set((await raw.keys({ gt: 'e/', lt: 'e0' }).all()).map((k) => k.slice(7, 17)));
    await raw.close();
    assert.equal(width, Math.ceil(week / 8 / 60_000) * 60_000, 'about 8 buckets per window');
    assert.ok(buckets.size <= 2);
    const again = await h.reopen();
    assert.deepEqual((await again.getDedup(S0, ['long', 'short'])).map((e) => e?.msgId), [id, id]);
  });
});
