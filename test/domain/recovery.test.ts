import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rebuildShard, type LeaseRecovery } from '../../src/domain/recovery.ts';
import type { LeaseRequest, ShardLimits } from '../../src/domain/shard-queue.ts';
import { topicKey, type ShardQueue } from '../../src/domain/shard-queue.ts';
import type { MessageMeta, MsgId, SessionId, StoreOp } from '../../src/domain/types.ts';
import { StoreModel, T0, TENANT, makeQueue, sendInput, session, topic } from './harness.ts';

const ALICE = session('alice');
const BOB = session('bob');

/** A live queue whose every step is committed to a store model. */
class Harness {
  readonly store = new StoreModel();
  constructor(public q: ShardQueue) {}

  run<T>(f: (out: StoreOp[]) => T): T {
    const out: StoreOp[] = [];
    const result = f(out);
    this.store.apply(out);
    return result;
  }

  send(t: string, text: string, now: number, delayMs?: number): MsgId {
    return this.run((o) => this.q.enqueue(sendInput(t, text, delayMs === undefined ? {} : { delayMs }), now, o)).msgId;
  }

  lease(t: string, now: number, extra: Partial<LeaseRequest> = {}): MessageMeta[] {
    const req: LeaseRequest = { tenant: TENANT, topic: topic(t), visibilityMs: 1_000, maxMessages: 100, owner: ALICE, ...extra };
    return this.run((o) => this.q.lease(req, now, o)).map((m) => ({ ...m }));
  }

  /** Throws the queue away and rebuilds a fresh one from the store, as after a crash. */
  crash(now: number, mode: LeaseRecovery, alive: (owner: SessionId) => boolean = () => true, limits: Partial<ShardLimits> = {}, seed = 99) {
    const input = this.store.recoveryInput();
    input.ready.reverse(); // a store may hand records back in any order
    this.q = makeQueue(limits, seed);
    return this.run((o) => rebuildShard(this.q, input, now, mode, alive, o));
  }
}

function readyOrder(q: ShardQueue, t: string, now: number): MsgId[] {
  return q.lease({ tenant: TENANT, topic: topic(t), visibilityMs: 1_000, maxMessages: 1_000, owner: session('probe') }, now, []).map((m) => m.msgId);
}

describe('recovery', () => {
  it('a shard rebuilt from the stored ops has the same depths as before', () => {
    const h = new Harness(makeQueue({ maxAttempts: 1 }));
    for (let i = 0; i < 6; i++) h.send('orders', `m${i}`, T0 + i);
    h.send('orders', 'later', T0, 5_000);
    h.lease('orders', T0 + 10, { maxMessages: 2 });
    const [doomed] = h.lease('orders', T0 + 10, { maxMessages: 1 });
    h.run((o) => h.q.nack(doomed!.msgId, doomed!.leaseId!, {}, T0 + 11, o));
    const before = h.q.depths();
    assert.deepEqual(before, { ready: 3, leased: 2, delayed: 1, dlq: 1 });
    assert.deepEqual(h.store.depths(), before);
    h.crash(T0 + 12, 'keep-leases');
    assert.deepEqual(h.q.depths(), before);
  });

  it("'expire-leases' turns each open lease into a server_restart attempt and the next delivery is attempt + 1", () => {
    const h = new Harness(makeQueue());
    const [a, b] = [h.send('orders', 'a', T0), h.send('orders', 'b', T0 + 1)];
    h.lease('orders', T0 + 2);
    const settled = h.crash(T0 + 50, 'expire-leases');
    assert.equal(settled.length, 2);
    for (const s of settled) {
      assert.ok(s.kind === 'requeued', 's.kind === "requeued"');
      assert.equal(s.outcome, 'server_restart');
      assert.equal(s.meta.attempt, 1, 'the attempt stays');
      assert.deepEqual(s.meta.history, [{ attempt: 1, outcome: 'server_restart', at: T0 + 50, session: ALICE }]);
    }
    assert.deepEqual(h.q.depths(), { ready: 2, leased: 0, delayed: 0, dlq: 0 });
    assert.deepEqual(h.store.depths(), h.q.depths(), 'the settlements were written to the store');
    const again = h.lease('orders', T0 + 50, { owner: BOB });
    assert.deepEqual(again.map((m) => m.msgId), [a, b]);
    assert.deepEqual(again.map((m) => m.attempt), [2, 2]);
  });

  it("'expire-leases' dead-letters a lease that was the last allowed attempt", () => {
    const h = new Harness(makeQueue({ maxAttempts: 1 }));
    const id = h.send('orders', 'a', T0);
    h.lease('orders', T0);
    const [s] = h.crash(T0 + 1, 'expire-leases', () => true, { maxAttempts: 1 });
    assert.ok(s!.kind === 'dead', 's!.kind === "dead"');
    assert.equal(s.entry.meta.msgId, id);
    assert.deepEqual(h.q.depths(), { ready: 0, leased: 0, delayed: 0, dlq: 1 });
    assert.deepEqual(h.store.depths(), h.q.depths());
  });

  it("'keep-leases' keeps the leases of live owners, whose lease ids still ACK", () => {
    const h = new Harness(makeQueue());
    const id = h.send('orders', 'a', T0);
    const [m] = h.lease('orders', T0, { owner: ALICE, visibilityMs: 10_000 });
    const settled = h.crash(T0 + 100, 'keep-leases', (o) => o === ALICE);
    assert.deepEqual(settled, []);
    assert.deepEqual(h.q.depths(), { ready: 0, leased: 1, delayed: 0, dlq: 0 });
    assert.equal(h.q.get(id)!.dueAt, T0 + 10_000, 'the stored deadline is kept');
    assert.equal(h.run((o) => h.q.ack(id, m!.leaseId!, o))?.msgId, id);
    assert.deepEqual(h.store.depths(), { ready: 0, leased: 0, delayed: 0, dlq: 0 });
  });

  it("'keep-leases' releases the leases of owners that are gone as session_lost", () => {
    const h = new Harness(makeQueue());
    const a = h.send('orders', 'a', T0);
    const b = h.send('orders', 'b', T0 + 1);
    h.lease('orders', T0 + 2, { owner: ALICE, maxMessages: 1 });
    h.lease('orders', T0 + 2, { owner: BOB, maxMessages: 1 });
    const settled = h.crash(T0 + 3, 'keep-leases', (o) => o === BOB);
    assert.equal(settled.length, 1);
    assert.ok(settled[0]!.kind === 'requeued', 'settled[0]!.kind === "requeued"');
    assert.equal(settled[0].meta.msgId, a);
    assert.equal(settled[0].outcome, 'session_lost');
    assert.equal(h.q.get(b)!.state, 'leased');
    assert.deepEqual(h.q.depths(), { ready: 1, leased: 1, delayed: 0, dlq: 0 });
    assert.deepEqual(h.store.depths(), h.q.depths());
    assert.equal(h.lease('orders', T0 + 3)[0]!.attempt, 2);
  });

  it('a kept lease still expires at its stored deadline after a rebuild', () => {
    const h = new Harness(makeQueue());
    const id = h.send('orders', 'a', T0);
    h.lease('orders', T0, { visibilityMs: 1_000 });
    h.crash(T0 + 10, 'keep-leases');
    assert.equal(h.q.nextDeadline(), T0 + 1_000);
    const { settled } = h.run((o) => h.q.tick(T0 + 1_000, o));
    assert.equal(settled.length, 1);
    assert.notEqual(h.q.get(id)!.state, 'leased');
  });

  it('a releaseOwner after a rebuild finds the kept leases of that owner', () => {
    const h = new Harness(makeQueue());
    h.send('orders', 'a', T0);
    h.lease('orders', T0, { owner: ALICE });
    h.crash(T0 + 1, 'keep-leases');
    assert.equal(h.run((o) => h.q.releaseOwner(ALICE, T0 + 2, o)).length, 1);
    assert.deepEqual(h.q.depths(), { ready: 1, leased: 0, delayed: 0, dlq: 0 });
  });

  it('a delayed message keeps its due time across a rebuild', () => {
    const h = new Harness(makeQueue());
    const id = h.send('orders', 'a', T0, 1_000);
    h.crash(T0 + 10, 'expire-leases');
    assert.deepEqual(readyOrder(h.q, 'orders', T0 + 999), []);
    const { promoted } = h.run((o) => h.q.tick(T0 + 1_000, o));
    assert.deepEqual([...promoted], [topicKey(TENANT, 'orders')]);
    assert.deepEqual(readyOrder(h.q, 'orders', T0 + 1_000), [id]);
  });

  it('FIFO order of each topic survives a rebuild', () => {
    const h = new Harness(makeQueue());
    const orders: MsgId[] = [];
    const invoices: MsgId[] = [];
    for (let i = 0; i < 40; i++) {
      const now = T0 + Math.floor(i / 3);
      orders.push(h.send('orders', `o${i}`, now));
      invoices.push(h.send('invoices', `i${i}`, now));
    }
    h.lease('orders', T0 + 20, { maxMessages: 5 });
    h.crash(T0 + 30, 'keep-leases');
    assert.deepEqual(readyOrder(h.q, 'orders', T0 + 30), orders.slice(5));
    assert.deepEqual(readyOrder(h.q, 'invoices', T0 + 30), invoices);
  });

  it('a rebuild keeps live idempotency keys and deletes expired ones from the store', () => {
    const h = new Harness(makeQueue({ replayWindowMs: 1_000 }));
    const old = h.send('orders', 'old', T0);
    const fresh = h.send('orders', 'fresh', T0 + 600);
    h.crash(T0 + 1_200, 'keep-leases', () => true, { replayWindowMs: 1_000 });
    assert.deepEqual([...h.store.dedup.values()].map((e) => e.msgId), [fresh]);
    assert.deepEqual(h.q.enqueue(sendInput('orders', 'fresh'), T0 + 1_200, []), { msgId: fresh, duplicate: true });
    const again = h.q.enqueue(sendInput('orders', 'old'), T0 + 1_200, []);
    assert.equal(again.duplicate, false);
    assert.notEqual(again.msgId, old);
  });

  it('messages sent after a rebuild a millisecond later queue behind the restored ones, even across a second rebuild', () => {
    const h = new Harness(makeQueue());
    const before = [h.send('orders', 'a', T0 + 100), h.send('orders', 'b', T0 + 100)];
    h.crash(T0 + 101, 'keep-leases', () => true, {}, 12345);
    const after = h.send('orders', 'c', T0 + 101);
    h.crash(T0 + 102, 'keep-leases', () => true, {}, 54321);
    assert.deepEqual(readyOrder(h.q, 'orders', T0 + 102), [...before, after]);
  });
});
