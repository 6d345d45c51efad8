/**
 * The shared mode's queue scripts against the machine's Redis, each test under its own
 * prefix (its keys deleted after it). Two SharedQueue objects on two connections stand for
 * two mailbox instances serving the same shard.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { MessageMeta, MsgId, ShardIndex, TenantId, Topic } from '../../src/domain/types.ts';
import { keyStart } from '../../src/store/redis-keys.ts';
import { defineSharedScripts, sharedTopicKey, SharedQueue, type SharedPolicy } from '../../src/store/redis-shared.ts';
import { deleteKeysWithPrefix, probeRedis, uniquePrefix } from '../fixtures/redis.ts';

const redis = await probeRedis();
const url = 'url' in redis ? redis.url : '';
const skip = 'skip' in redis ? redis.skip : false;

const TENANT = '0'.repeat(32) as TenantId;
const OTHER = '1'.repeat(32) as TenantId;
const TOPIC = 'jobs' as Topic;
const KEY = sharedTopicKey(TENANT, TOPIC);
const S0 = 0 as ShardIndex;
const POLICY: SharedPolicy = { maxAttempts: 3, backoffBaseMs: 0, backoffMaxMs: 0, replayWindowMs: 60_000, capacity: 1_000 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let seq = 0;
function meta(over: Partial<MessageMeta> = {}): MessageMeta {
  const id = `01SHARED${String(++seq).padStart(18, '0')}` as MsgId;
  return { msgId: id, tenant: TENANT, topic: TOPIC, idemKey: `k${seq}`, payloadHash: 'ab'.repeat(32), size: 5, enqueuedAt: 1, attempt: 0, state: 'ready', dueAt: 0, history: [], ...over };
}
const item = (m: MessageMeta, payload = 'hello') => ({ meta: m, payload: Buffer.from(payload), dedupKey: `${m.tenant}|${m.topic}|${m.idemKey}` });

describe('redis shared-mode queue', { skip }, () => {
  const clients: Redis[] = [];
  const prefixes: string[] = [];
  /** Two "instances" on one fresh prefix. */
  async function pair(policy: SharedPolicy = POLICY): Promise<[SharedQueue, SharedQueue]> {
    const prefix = uniquePrefix('shared');
    prefixes.push(prefix);
    const queues = [];
    for (let i = 0; i < 2; i++) {
      const client = new Redis(url, { lazyConnect: true });
      await client.connect();
      defineSharedScripts(client);
      clients.push(client);
      queues.push(new SharedQueue(client, prefix, S0, policy));
    }
    return queues as [SharedQueue, SharedQueue];
  }
  after(async () => {
    const admin = new Redis(url, { lazyConnect: true });
    await admin.connect();
    for (const p of prefixes) await deleteKeysWithPrefix(admin, keyStart(p));
    await admin.quit();
    for (const c of clients) c.disconnect();
  });

  it('enqueues once per idempotency key: a repeat is a duplicate with the first msgId, another payload under the key a conflict', async () => {
    const [a, b] = await pair();
    const first = meta({ idemKey: 'same' });
    assert.deepEqual(await a.enqueue([item(first)]), [{ kind: 'accepted' }]);
    assert.deepEqual(await b.enqueue([item(meta({ idemKey: 'same' }))]), [{ kind: 'duplicate', msgId: first.msgId }]);
    assert.deepEqual(await b.enqueue([item(meta({ idemKey: 'same', payloadHash: 'cd'.repeat(32) }))]), [{ kind: 'conflict', msgId: first.msgId }]);
    assert.deepEqual(await a.depths(), { ready: 1, delayed: 0, leased: 0, dlq: 0 });
  });

  it('refuses past the shard capacity without enqueuing', async () => {
    const [a] = await pair({ ...POLICY, capacity: 2 });
    const out = await a.enqueue([item(meta()), item(meta()), item(meta())]);
    assert.deepEqual(out.map((o) => o.kind), ['accepted', 'accepted', 'full']);
    assert.equal((await a.depths()).ready, 2);
  });

  it('leases in FIFO order with the payload, and two instances leasing at once never get the same message', async () => {
    const [a, b] = await pair();
    const metas = Array.from({ length: 200 }, () => meta());
    await a.enqueue(metas.map((m) => item(m, `p-${m.msgId}`)));
    const [first] = await a.lease(KEY, 1, 0, 30_000, 'i1/s1');
    assert.equal(first!.meta.msgId, metas[0]!.msgId, 'oldest first');
    assert.equal(first!.payload.toString(), `p-${metas[0]!.msgId}`);
    assert.equal(first!.meta.attempt, 1);
    assert.equal(first!.meta.owner, 'i1/s1');
    const rounds = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).lease(KEY, 7, 0, 30_000, `i${i % 2}/s`)));
    const ids = [first!.meta.msgId, ...rounds.flat().map((l) => l.meta.msgId)];
    assert.equal(ids.length, 200, 'every message leased');
    assert.equal(new Set(ids).size, 200, 'none leased twice');
    assert.equal(new Set(rounds.flat().map((l) => l.meta.leaseId)).size, 199, 'one lease id per lease');
    assert.deepEqual(await b.depths(), { ready: 0, delayed: 0, leased: 200, dlq: 0 });
  });

  it('settles a lease through either instance by its lease id, and refuses a stale or foreign one', async () => {
    const [a, b] = await pair();
    const m = meta();
    await a.enqueue([item(m)]);
    const [l] = await a.lease(KEY, 1, 0, 30_000, 'i1/s1');
    assert.deepEqual(await b.ack(OTHER, [{ msgId: m.msgId, leaseId: l!.meta.leaseId! }]), ['F'], 'another tenant sees no such message');
    assert.deepEqual(await b.ack(TENANT, [{ msgId: m.msgId, leaseId: `0.999999` }]), ['S'], 'a wrong lease id is stale');
    assert.deepEqual(await b.ack(TENANT, [{ msgId: m.msgId, leaseId: l!.meta.leaseId! }]), [{ topicKey: KEY }], 'acknowledged through the other instance');
    assert.deepEqual(await a.ack(TENANT, [{ msgId: m.msgId, leaseId: l!.meta.leaseId! }]), ['N'], 'gone after its ACK');
    assert.deepEqual(await a.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
  });

  it('NACK requeues with the attempt recorded and dead-letters at maxAttempts with the whole history', async () => {
    const [a, b] = await pair();
    const m = meta();
    await a.enqueue([item(m)]);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [l] = await (attempt % 2 ? a : b).lease(KEY, 1, 0, 30_000, `i${attempt}/s`);
      assert.equal(l?.meta.attempt, attempt);
      const s = await a.nack(TENANT, m.msgId, l!.meta.leaseId!, 0, `try ${attempt}`, 0.5);
      assert.ok(typeof s !== 'string');
      if (attempt < 3) assert.equal(s.kind, 'requeued');
      else {
        assert.equal(s.kind, 'dead');
        if (s.kind !== 'dead') return;
        assert.equal(s.entry.reason, 'nacked');
        assert.deepEqual(s.entry.meta.history.map((h) => [h.attempt, h.outcome, h.reason, h.session]), [[1, 'nacked', 'try 1', 'i1/s'], [2, 'nacked', 'try 2', 'i2/s'], [3, 'nacked', 'try 3', 'i3/s']]);
      }
    }
    assert.deepEqual(await a.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 1 });
    assert.equal(await b.revive(OTHER, [m.msgId]), 0, 'another tenant cannot reprocess it');
    assert.equal(await b.revive(TENANT, [m.msgId]), 1);
    const [again] = await a.lease(KEY, 1, 0, 30_000, 'i1/s');
    assert.equal(again?.meta.attempt, 1, 'attempts start again after reprocess');
    assert.deepEqual(again?.meta.history, []);
  });

  it('a lease past its deadline is requeued by whichever instance ticks first, as expired; its old lease id is refused', async () => {
    const [a, b] = await pair();
    const m = meta();
    await a.enqueue([item(m)]);
    const [l] = await a.lease(KEY, 1, 0, 50, 'i1/s1');
    await sleep(80);
    const [ta, tb] = await Promise.all([a.tick(10, () => 0.5), b.tick(10, () => 0.5)]);
    const settled = [...ta.settled, ...tb.settled];
    assert.equal(settled.length, 1, 'settled once, not once per instance');
    assert.equal(settled[0]!.kind, 'requeued');
    if (settled[0]!.kind === 'requeued') assert.equal(settled[0].meta.history[0]?.outcome, 'expired');
    assert.deepEqual(await a.ack(TENANT, [{ msgId: m.msgId, leaseId: l!.meta.leaseId! }]), ['S']);
    const [again] = await b.lease(KEY, 1, 0, 30_000, 'i2/s');
    assert.equal(again?.meta.attempt, 2);
  });

  it('EXTEND moves the deadline of a live lease; a delayed message becomes ready once due', async () => {
    const [a, b] = await pair();
    const m = meta();
    await a.enqueue([item(m)]);
    const [l] = await a.lease(KEY, 1, 0, 100, 'i1/s1');
    const deadline = await b.extend(TENANT, m.msgId, l!.meta.leaseId!, 60_000);
    assert.ok(typeof deadline === 'number' && deadline > l!.meta.dueAt + 50_000);
    await sleep(150);
    assert.equal((await a.tick(10, () => 0)).settled.length, 0, 'extended: not expired');
    const later = meta({ state: 'delayed', dueAt: Date.now() + 100 });
    await a.enqueue([item(later)]);
    assert.deepEqual(await b.lease(KEY, 5, 0, 1_000, 'x/y'), [], 'not ready before it is due');
    await sleep(150);
    const { nextDueMs } = await b.tick(10, () => 0);
    assert.ok(nextDueMs > 0, `the extended lease is the next due (${nextDueMs} ms)`);
    assert.equal((await a.lease(KEY, 5, 0, 1_000, 'x/y'))[0]?.meta.msgId, later.msgId);
  });

  it('releases what a lost session held: ready again at once as session_lost, only for that owner', async () => {
    const [a, b] = await pair();
    const ms = [meta(), meta()];
    await a.enqueue(ms.map((m) => item(m)));
    const [mine] = await a.lease(KEY, 1, 0, 60_000, 'i1/gone');
    const [theirs] = await b.lease(KEY, 1, 0, 60_000, 'i2/alive');
    const settled = await a.release('i1/gone', [mine!.meta.msgId, theirs!.meta.msgId]);
    assert.equal(settled.length, 1);
    if (settled[0]!.kind === 'requeued') assert.equal(settled[0].meta.history[0]?.outcome, 'session_lost');
    assert.equal((await b.lease(KEY, 5, 0, 1_000, 'x/y'))[0]?.meta.msgId, mine!.meta.msgId);
    assert.deepEqual(await a.depths(), { ready: 0, delayed: 0, leased: 2, dlq: 0 });
  });

  it('purges DLQ entries with their payloads', async () => {
    const [a] = await pair({ ...POLICY, maxAttempts: 1 });
    const m = meta();
    await a.enqueue([item(m)]);
    const [l] = await a.lease(KEY, 1, 0, 60_000, 'i/s');
    await a.nack(TENANT, m.msgId, l!.meta.leaseId!, 0, 'no', 0);
    assert.equal((await a.depths()).dlq, 1);
    assert.equal(await a.forgetDead([m.msgId]), 1);
    assert.deepEqual(await a.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
  });
});
