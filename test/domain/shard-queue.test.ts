import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRng, type Rng } from '../../src/domain/clock.ts';
import { IdGenerator } from '../../src/domain/ids.ts';
import { ShardQueue, leaseIdFor, shardOfLease, topicKey, type LeaseRequest, type ShardLimits } from '../../src/domain/shard-queue.ts';
import type { LeaseId, MessageMeta, MsgId, ShardIndex, StoreOp } from '../../src/domain/types.ts';
import { MailboxError } from '../../src/errors.ts';
import { LIMITS, OTHER_TENANT, SHARD, StoreModel, T0, TENANT, bytes, makeQueue, sendInput, session, topic } from './harness.ts';

const ALICE = session('alice');
const BOB = session('bob');

function recv(t: string, extra: Partial<LeaseRequest> = {}): LeaseRequest {
  return { tenant: TENANT, topic: topic(t), visibilityMs: 1_000, maxMessages: 10, owner: ALICE, ...extra };
}

function code(expected: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof MailboxError, String(err));
    assert.equal(err.code, expected);
    return true;
  };
}

/** A queue whose backoff rng always answers `value` (0 -> a retry is ready at once). */
function queueWithRng(value: number, limits: Partial<ShardLimits> = {}): ShardQueue {
  const rng: Rng = { next: () => value };
  return new ShardQueue(SHARD, { ...LIMITS, ...limits }, new IdGenerator(new SeededRng(11)), rng);
}

function send(q: ShardQueue, t: string, text: string, now = T0, out: StoreOp[] = []): MsgId {
  return q.enqueue(sendInput(t, text), now, out).msgId;
}

function lease(q: ShardQueue, t: string, now = T0, extra: Partial<LeaseRequest> = {}): MessageMeta[] {
  return q.lease(recv(t, extra), now, []).map((m) => ({ ...m, history: m.history.slice() }));
}

describe('shard queue: send and receive', () => {
  it('SEND then RECV leases the messages of a topic in FIFO order, each as attempt 1', () => {
    const q = makeQueue();
    const ids = ['a', 'b', 'c'].map((text, i) => send(q, 'orders', text, T0 + i));
    const got = lease(q, 'orders', T0 + 10);
    assert.deepEqual(got.map((m) => m.msgId), ids);
    for (const m of got) {
      assert.equal(m.attempt, 1);
      assert.equal(m.state, 'leased');
      assert.equal(m.owner, ALICE);
      assert.equal(m.dueAt, T0 + 10 + 1_000);
      assert.ok(m.leaseId, 'm.leaseId');
    }
    assert.equal(new Set(got.map((m) => m.leaseId)).size, 3, 'each delivery has its own lease');
    assert.deepEqual(q.depths(), { ready: 0, leased: 3, delayed: 0, dlq: 0 });
  });

  it('RECV takes at most maxMessages and leaves the rest in order', () => {
    const q = makeQueue();
    const ids = ['a', 'b', 'c'].map((text) => send(q, 'orders', text));
    assert.deepEqual(lease(q, 'orders', T0, { maxMessages: 2 }).map((m) => m.msgId), ids.slice(0, 2));
    assert.deepEqual(lease(q, 'orders', T0, { maxMessages: 2 }).map((m) => m.msgId), ids.slice(2));
    assert.deepEqual(lease(q, 'orders'), []);
  });

  it('topics and tenants are separate queues', () => {
    const q = makeQueue();
    const a = send(q, 'orders', 'a');
    const b = send(q, 'invoices', 'b');
    q.enqueue(sendInput('orders', 'c', { tenant: OTHER_TENANT }), T0, []);
    assert.deepEqual(lease(q, 'invoices').map((m) => m.msgId), [b]);
    assert.deepEqual(lease(q, 'orders').map((m) => m.msgId), [a]);
    assert.equal(q.hasReady(topicKey(OTHER_TENANT, 'orders')), true);
    assert.equal(q.hasReady(topicKey(TENANT, 'orders')), false);
  });

  it('RECV visibility is capped by maxVisibilityMs', () => {
    const q = makeQueue({ maxVisibilityMs: 5_000 });
    send(q, 'orders', 'a');
    assert.equal(lease(q, 'orders', T0, { visibilityMs: 1_000_000 })[0]!.dueAt, T0 + 5_000);
  });

  it('maxBytes limits a RECV but always returns at least one message', () => {
    const q = makeQueue();
    q.enqueue(sendInput('orders', 'x'.repeat(100), { idemKey: 'big' }), T0, []);
    q.enqueue(sendInput('orders', 'y'.repeat(30), { idemKey: 'm1' }), T0, []);
    q.enqueue(sendInput('orders', 'z'.repeat(30), { idemKey: 'm2' }), T0, []);
    q.enqueue(sendInput('orders', 'w'.repeat(30), { idemKey: 'm3' }), T0, []);
    assert.deepEqual(lease(q, 'orders', T0, { maxBytes: 10 }).map((m) => m.idemKey), ['big'], 'oversized head still delivered');
    assert.deepEqual(lease(q, 'orders', T0, { maxBytes: 60 }).map((m) => m.idemKey), ['m1', 'm2']);
    assert.deepEqual(lease(q, 'orders', T0, { maxBytes: 60 }).map((m) => m.idemKey), ['m3']);
  });

  it('a SEND with delayMs is invisible until its due time and ready after a tick then', () => {
    const q = makeQueue();
    const id = q.enqueue(sendInput('orders', 'a', { delayMs: 500 }), T0, []).msgId;
    assert.deepEqual(q.depths(), { ready: 0, leased: 0, delayed: 1, dlq: 0 });
    assert.equal(q.get(id)!.dueAt, T0 + 500);
    assert.deepEqual(lease(q, 'orders', T0 + 499), []);
    q.tick(T0 + 499, []);
    assert.deepEqual(lease(q, 'orders', T0 + 499), []);
    const { promoted } = q.tick(T0 + 500, []);
    assert.deepEqual([...promoted], [topicKey(TENANT, 'orders')]);
    assert.deepEqual(lease(q, 'orders', T0 + 500).map((m) => m.msgId), [id]);
  });

  it('a full shard refuses a new SEND with E_SATURATED and a retryAfterMs', () => {
    const q = makeQueue({ capacity: 2 });
    send(q, 'orders', 'a');
    send(q, 'orders', 'b');
    assert.throws(() => send(q, 'orders', 'c'), (err: unknown) => code('E_SATURATED')(err) && (err as MailboxError).retryAfterMs! > 0);
    assert.equal(q.enqueue(sendInput('orders', 'a'), T0, []).duplicate, true, 'a replay is still answered when full');
    assert.deepEqual(q.depths(), { ready: 2, leased: 0, delayed: 0, dlq: 0 });
  });

  it('a full idempotency window refuses a new SEND with E_SATURATED and enqueues nothing', () => {
    const q = makeQueue({ dedupCapacity: 1 });
    send(q, 'orders', 'a');
    const out: StoreOp[] = [];
    assert.throws(() => send(q, 'orders', 'b', T0, out), code('E_SATURATED'));
    assert.deepEqual(out, []);
    assert.deepEqual(q.depths(), { ready: 1, leased: 0, delayed: 0, dlq: 0 });
  });
});

describe('shard queue: idempotent SEND', () => {
  it('a duplicate SEND with the same key and payload returns the same msgId as a duplicate and enqueues nothing', () => {
    const q = makeQueue();
    const first = q.enqueue(sendInput('orders', 'a'), T0, []);
    const out: StoreOp[] = [];
    const again = q.enqueue(sendInput('orders', 'a'), T0 + 5_000, out);
    assert.deepEqual(first, { msgId: first.msgId, duplicate: false });
    assert.deepEqual(again, { msgId: first.msgId, duplicate: true });
    assert.deepEqual(out, []);
    assert.deepEqual(q.depths(), { ready: 1, leased: 0, delayed: 0, dlq: 0 });
  });

  it('a duplicate SEND inside the window still answers after the message was acked', () => {
    const q = makeQueue();
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    q.ack(id, m!.leaseId!, []);
    assert.deepEqual(q.enqueue(sendInput('orders', 'a'), T0 + 1, []), { msgId: id, duplicate: true });
    assert.deepEqual(lease(q, 'orders', T0 + 1), []);
  });

  it('the same idemKey with a different payload is refused with E_IDEM_CONFLICT', () => {
    const q = makeQueue();
    q.enqueue(sendInput('orders', 'a', { idemKey: 'k' }), T0, []);
    const out: StoreOp[] = [];
    assert.throws(() => q.enqueue(sendInput('orders', 'b', { idemKey: 'k' }), T0 + 1, out), code('E_IDEM_CONFLICT'));
    assert.deepEqual(out, []);
  });

  it('the same idemKey on another topic is a different message', () => {
    const q = makeQueue();
    const a = q.enqueue(sendInput('orders', 'a', { idemKey: 'k' }), T0, []);
    const b = q.enqueue(sendInput('invoices', 'b', { idemKey: 'k' }), T0, []);
    assert.equal(b.duplicate, false);
    assert.notEqual(a.msgId, b.msgId);
  });

  it('after the replay window the same idemKey makes a new message', () => {
    const q = makeQueue({ replayWindowMs: 1_000 });
    const first = send(q, 'orders', 'a');
    const out: StoreOp[] = [];
    q.tick(T0 + 1_000, out);
    assert.ok(out.some((op) => op.op === 'delDedup'), 'the expired key is deleted from the store');
    const again = q.enqueue(sendInput('orders', 'a'), T0 + 1_000, []);
    assert.equal(again.duplicate, false);
    assert.notEqual(again.msgId, first);
  });
});

describe('shard queue: settling a lease', () => {
  it('ACK removes the message and a second ACK finds nothing to remove (the shard answers E_NOT_FOUND)', () => {
    const q = makeQueue();
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    const out: StoreOp[] = [];
    assert.equal(q.ack(id, m!.leaseId!, out)?.msgId, id);
    assert.deepEqual(out, [{ op: 'delMsg', shard: SHARD, msgId: id, tenant: TENANT, topic: 'orders', state: 'leased' }]);
    assert.deepEqual(q.depths(), { ready: 0, leased: 0, delayed: 0, dlq: 0 });
    const again: StoreOp[] = [];
    assert.equal(q.ack(id, m!.leaseId!, again), undefined);
    assert.deepEqual(again, []);
    assert.equal(q.get(id), undefined);
  });

  it('ACK with a wrong leaseId is refused with E_STALE_LEASE and the lease stays', () => {
    const q = makeQueue();
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    assert.throws(() => q.ack(id, 'not-the-lease' as LeaseId, []), code('E_STALE_LEASE'));
    assert.equal(q.get(id)?.state, 'leased');
    assert.equal(q.ack(id, m!.leaseId!, [])?.msgId, id);
  });

  it('ACK of a message that is ready, not leased, is refused with E_STALE_LEASE', () => {
    const q = makeQueue();
    const id = send(q, 'orders', 'a');
    assert.throws(() => q.ack(id, 'x' as LeaseId, []), code('E_STALE_LEASE'));
  });

  it('an old lease cannot ACK or NACK a message that was redelivered', () => {
    const q = queueWithRng(0);
    const id = send(q, 'orders', 'a');
    const [first] = lease(q, 'orders');
    q.tick(T0 + 1_000, []);
    const [second] = lease(q, 'orders', T0 + 1_000);
    assert.notEqual(first!.leaseId, second!.leaseId);
    assert.throws(() => q.ack(id, first!.leaseId!, []), code('E_STALE_LEASE'));
    assert.throws(() => q.nack(id, first!.leaseId!, {}, T0 + 1_001, []), code('E_STALE_LEASE'));
    assert.throws(() => q.extend(id, first!.leaseId!, 100, T0 + 1_001, []), code('E_STALE_LEASE'));
    assert.equal(q.ack(id, second!.leaseId!, [])?.msgId, id);
  });

  it('NACK and EXTEND of an unknown message are refused with E_NOT_FOUND', () => {
    const q = makeQueue();
    const ghost = '01HZZZZZZZZZZZZZZZZZZZZZZZ' as MsgId;
    assert.throws(() => q.nack(ghost, 'x' as LeaseId, {}, T0, []), code('E_NOT_FOUND'));
    assert.throws(() => q.extend(ghost, 'x' as LeaseId, 100, T0, []), code('E_NOT_FOUND'));
  });

  it('NACK with delayMs delays the message and it is ready again after a tick at the due time', () => {
    const q = makeQueue();
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    const s = q.nack(id, m!.leaseId!, { delayMs: 300, reason: 'busy' }, T0 + 10, []);
    assert.equal(s.kind, 'requeued');
    assert.deepEqual(q.depths(), { ready: 0, leased: 0, delayed: 1, dlq: 0 });
    assert.equal(q.get(id)!.dueAt, T0 + 310);
    assert.equal(q.nextDeadline(), T0 + 310);
    assert.deepEqual(q.tick(T0 + 309, []).promoted.size, 0);
    assert.deepEqual([...q.tick(T0 + 310, []).promoted], [topicKey(TENANT, 'orders')]);
    const [again] = lease(q, 'orders', T0 + 310);
    assert.equal(again!.msgId, id);
    assert.equal(again!.attempt, 2);
    assert.deepEqual(again!.history, [{ attempt: 1, outcome: 'nacked', at: T0 + 10, reason: 'busy', session: ALICE }]);
  });

  it('NACK with delayMs 0 makes the message ready at once, behind those already waiting', () => {
    const q = makeQueue();
    const a = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    const b = send(q, 'orders', 'b');
    q.nack(a, m!.leaseId!, { delayMs: 0 }, T0, []);
    assert.deepEqual(lease(q, 'orders').map((x) => x.msgId), [b, a]);
  });

  it('NACK without a delay waits the backoff for the attempt', () => {
    const q = queueWithRng(0.5, { backoff: { baseMs: 100, maxMs: 10_000 } });
    const id = send(q, 'orders', 'a');
    let [m] = lease(q, 'orders');
    q.nack(id, m!.leaseId!, {}, T0, []);
    assert.equal(q.get(id)!.state, 'delayed');
    assert.equal(q.get(id)!.dueAt, T0 + 100, 'attempt 1: half of 100*2^1');
    q.tick(T0 + 100, []);
    [m] = lease(q, 'orders', T0 + 100);
    q.nack(id, m!.leaseId!, {}, T0 + 100, []);
    assert.equal(q.get(id)!.dueAt, T0 + 100 + 200, 'attempt 2: half of 100*2^2');
  });

  it('an expired lease returns the message with attempt 2', () => {
    const q = queueWithRng(0);
    const id = send(q, 'orders', 'a');
    lease(q, 'orders', T0, { visibilityMs: 1_000 });
    assert.equal(q.tick(T0 + 999, []).settled.length, 0);
    const { settled, promoted } = q.tick(T0 + 1_000, []);
    assert.equal(settled.length, 1);
    assert.equal(settled[0]!.kind, 'requeued');
    assert.deepEqual([...promoted], [topicKey(TENANT, 'orders')]);
    const [again] = lease(q, 'orders', T0 + 1_000, { owner: BOB });
    assert.equal(again!.msgId, id);
    assert.equal(again!.attempt, 2);
    assert.deepEqual(again!.history, [{ attempt: 1, outcome: 'expired', at: T0 + 1_000, session: ALICE }]);
  });

  it('an expired lease waits the backoff before it is redelivered', () => {
    const q = queueWithRng(0.5);
    const id = send(q, 'orders', 'a');
    lease(q, 'orders');
    const { promoted } = q.tick(T0 + 1_000, []);
    assert.equal(promoted.size, 0);
    assert.equal(q.get(id)!.state, 'delayed');
    assert.ok(q.get(id)!.dueAt > T0 + 1_000, 'q.get(id)!.dueAt > T0 + 1_000');
  });

  it('a message that fails maxAttempts times goes to the DLQ with the outcome and reason of each attempt', () => {
    const q = queueWithRng(0, { maxAttempts: 3 });
    const id = send(q, 'orders', 'a');
    let [m] = lease(q, 'orders', T0);
    q.nack(id, m!.leaseId!, { reason: 'parse error' }, T0 + 1, []);
    lease(q, 'orders', T0 + 2, { visibilityMs: 10 });
    q.tick(T0 + 12, []);
    [m] = lease(q, 'orders', T0 + 20);
    const out: StoreOp[] = [];
    const settled = q.releaseOwner(ALICE, T0 + 30, out);
    assert.equal(settled.length, 1);
    const s = settled[0]!;
    assert.equal(s.kind, 'dead');
    if (s.kind !== 'dead') return;
    assert.equal(s.entry.meta.msgId, id);
    assert.equal(s.entry.deadAt, T0 + 30);
    assert.equal(s.entry.reason, 'session_lost');
    assert.equal(s.entry.meta.attempt, 3);
    assert.deepEqual(s.entry.meta.history, [
      { attempt: 1, outcome: 'nacked', at: T0 + 1, reason: 'parse error', session: ALICE },
      { attempt: 2, outcome: 'expired', at: T0 + 12, session: ALICE },
      { attempt: 3, outcome: 'session_lost', at: T0 + 30, session: ALICE },
    ]);
    assert.deepEqual(out.map((op) => op.op), ['delMsg', 'putDlq']);
    assert.equal(q.get(id), undefined);
    assert.deepEqual(q.depths(), { ready: 0, leased: 0, delayed: 0, dlq: 1 });
    assert.deepEqual(lease(q, 'orders', T0 + 40), []);
    assert.throws(() => q.ack(id, m!.leaseId!, []), code('E_STALE_LEASE'), 'a late ACK of the dead message is refused');
  });
});

describe('shard queue: lease ids and owners', () => {
  it('a leaseId names its shard, so shardOfLease routes it back', () => {
    const q = new ShardQueue(5 as ShardIndex, LIMITS, new IdGenerator(new SeededRng(3)), new SeededRng(4));
    q.enqueue(sendInput('orders', 'a'), T0, []);
    const [m] = q.lease(recv('orders'), T0, []);
    assert.equal(shardOfLease(m!.leaseId!, 8), 5);
    assert.equal(shardOfLease(leaseIdFor(0 as ShardIndex, 'X'), 1), 0);
    assert.equal(shardOfLease(leaseIdFor(5 as ShardIndex, 'X'), 5), undefined, 'shard out of range');
    for (const bad of ['', 'nodot', '.x', '1234.x', 'a.x', '-1.x']) assert.equal(shardOfLease(bad, 16), undefined, bad);
  });

  it('leasedBy counts the open leases an owner holds on a topic', () => {
    const q = makeQueue();
    const ids = ['a', 'b', 'c'].map((text) => send(q, 'orders', text));
    send(q, 'invoices', 'x');
    const mine = lease(q, 'orders', T0, { maxMessages: 2, owner: ALICE });
    lease(q, 'orders', T0, { owner: BOB });
    lease(q, 'invoices', T0, { owner: ALICE });
    const orders = topicKey(TENANT, 'orders');
    assert.equal(q.leasedBy(ALICE, orders), 2);
    assert.equal(q.leasedBy(BOB, orders), 1);
    assert.equal(q.leasedBy(ALICE, topicKey(TENANT, 'invoices')), 1);
    q.ack(ids[0]!, mine[0]!.leaseId!, []);
    assert.equal(q.leasedBy(ALICE, orders), 1);
    q.releaseOwner(ALICE, T0, []);
    assert.equal(q.leasedBy(ALICE, orders), 0);
    assert.equal(q.leasedBy(BOB, orders), 1);
  });
});

describe('shard queue: EXTEND and sessions', () => {
  it('EXTEND moves the deadline so the lease outlives its first deadline', () => {
    const q = makeQueue();
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders', T0, { visibilityMs: 1_000 });
    const out: StoreOp[] = [];
    assert.equal(q.extend(id, m!.leaseId!, 5_000, T0 + 900, out), T0 + 5_900);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.op === 'putMsg' && out[0]!.meta.dueAt, T0 + 5_900);
    assert.equal(q.tick(T0 + 1_000, []).settled.length, 0, 'the old deadline is stale');
    assert.equal(q.get(id)!.state, 'leased');
    assert.equal(q.tick(T0 + 5_900, []).settled.length, 1);
  });

  it('EXTEND is capped by maxVisibilityMs', () => {
    const q = makeQueue({ maxVisibilityMs: 2_000 });
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    assert.equal(q.extend(id, m!.leaseId!, 1_000_000, T0 + 100, []), T0 + 2_100);
  });

  it('EXTEND can shorten a lease, and the shorter deadline is the one that expires it', () => {
    const q = queueWithRng(0);
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders', T0, { visibilityMs: 10_000 });
    q.extend(id, m!.leaseId!, 100, T0, []);
    assert.equal(q.tick(T0 + 100, []).settled.length, 1);
    assert.equal(q.get(id)!.state, 'ready');
  });

  it('EXTEND refuses an already expired lease with E_STALE_LEASE, even before the tick', () => {
    const q = makeQueue();
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders', T0, { visibilityMs: 1_000 });
    assert.throws(() => q.extend(id, m!.leaseId!, 1_000, T0 + 1_000, []), code('E_STALE_LEASE'));
    assert.equal(q.get(id)!.dueAt, T0 + 1_000);
  });

  it('releaseOwner returns the session\'s leases at once as session_lost and leaves other sessions alone', () => {
    const q = queueWithRng(0.9);
    const [a, b, c] = ['a', 'b', 'c'].map((text) => send(q, 'orders', text));
    lease(q, 'orders', T0, { maxMessages: 2, owner: ALICE });
    lease(q, 'orders', T0, { maxMessages: 1, owner: BOB });
    const settled = q.releaseOwner(ALICE, T0 + 5, []);
    assert.deepEqual(settled.map((s) => s.kind === 'requeued' && s.outcome), ['session_lost', 'session_lost']);
    assert.deepEqual(q.depths(), { ready: 2, leased: 1, delayed: 0, dlq: 0 }, 'no backoff for a lost session');
    assert.equal(q.get(c!)!.owner, BOB);
    assert.deepEqual(lease(q, 'orders', T0 + 5, { owner: BOB }).map((m) => m.msgId), [a, b]);
    assert.deepEqual(q.releaseOwner(ALICE, T0 + 6, []), [], 'a second release finds nothing');
  });

  it('releaseOwner ignores leases the session already settled', () => {
    const q = makeQueue();
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    q.ack(id, m!.leaseId!, []);
    assert.deepEqual(q.releaseOwner(ALICE, T0, []), []);
    assert.deepEqual(q.depths(), { ready: 0, leased: 0, delayed: 0, dlq: 0 });
  });
});

describe('shard queue: DLQ and store ops', () => {
  function deadEntry(q: ShardQueue) {
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    const s = q.nack(id, m!.leaseId!, {}, T0 + 1, []);
    assert.equal(s.kind, 'dead');
    return { id, entry: (s as Extract<typeof s, { kind: 'dead' }>).entry };
  }

  it('revive from the DLQ brings the message back as ready with its attempts reset', () => {
    const q = makeQueue({ maxAttempts: 1 });
    const { id, entry } = deadEntry(q);
    const out: StoreOp[] = [];
    const revived = q.revive(entry, bytes('a'), out);
    assert.equal(revived.msgId, id);
    assert.equal(revived.attempt, 0);
    assert.deepEqual(revived.history, []);
    assert.equal(revived.leaseId, undefined);
    assert.equal(revived.owner, undefined);
    assert.deepEqual(out.map((op) => op.op), ['delDlq', 'putMsg']);
    assert.deepEqual(out[1]!.op === 'putMsg' && out[1]!.payload, bytes('a'));
    assert.deepEqual(q.depths(), { ready: 1, leased: 0, delayed: 0, dlq: 0 });
    const [m] = lease(q, 'orders', T0 + 2);
    assert.equal(m!.msgId, id);
    assert.equal(m!.attempt, 1);
  });

  it('a late ACK of a dead-lettered message is refused with E_STALE_LEASE, and is a no-op once the entry is purged', () => {
    const q = makeQueue({ maxAttempts: 1 });
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    q.nack(id, m!.leaseId!, {}, T0 + 1, []);
    const out: StoreOp[] = [];
    assert.throws(() => q.ack(id, m!.leaseId!, out), code('E_STALE_LEASE'));
    assert.deepEqual(out, []);
    q.forgetDead(id, []);
    assert.equal(q.ack(id, m!.leaseId!, []), undefined);
  });

  it('a dead-lettered msgId restored with restoreDead still refuses a late ACK', () => {
    const q = makeQueue();
    const id = '01HZZZZZZZZZZZZZZZZZZZZZZZ' as MsgId;
    q.restoreDead([{ msgId: id, tenant: TENANT }]);
    assert.throws(() => q.ack(id, '0.x' as LeaseId, [], TENANT), code('E_STALE_LEASE'));
    assert.equal(q.ack(id, '0.x' as LeaseId, [], OTHER_TENANT), undefined, 'to another tenant the id does not exist');
    assert.equal(q.takeForeignRefusals(), 1);
  });

  it('holdsFor says whether RAM holds a message as one tenant\'s, live or recently dead, and counts no refusal', () => {
    const q = makeQueue({ maxAttempts: 1 });
    const id = send(q, 'orders', 'a');
    assert.equal(q.holdsFor(id, TENANT), true);
    assert.equal(q.holdsFor(id, OTHER_TENANT), false);
    const [m] = lease(q, 'orders');
    q.nack(id, m!.leaseId!, {}, T0 + 1, [], TENANT);
    assert.equal(q.holdsFor(id, TENANT), true, 'dead-lettered and remembered');
    assert.equal(q.holdsFor(id, OTHER_TENANT), false);
    assert.equal(q.holdsFor('01HZZZZZZZZZZZZZZZZZZZZZZZ' as MsgId, TENANT), false);
    assert.equal(q.takeForeignRefusals(), 0);
  });

  it("another tenant's ACK, NACK and EXTEND find no message: answered as an unknown id, nothing changes, each counted", () => {
    const q = makeQueue({ maxAttempts: 1 });
    const id = send(q, 'orders', 'a');
    const [m] = lease(q, 'orders');
    const unknown = '01HZZZZZZZZZZZZZZZZZZZZZZZ' as MsgId;
    const answer = (fn: () => unknown): string => {
      try {
        return `ok ${String(fn())}`;
      } catch (err) {
        return err instanceof MailboxError ? `${err.code} ${err.message.replace(id, '<id>').replace(unknown, '<id>')}` : String(err);
      }
    };
    const out: StoreOp[] = [];
    assert.equal(answer(() => q.ack(id, m!.leaseId!, out, OTHER_TENANT)), answer(() => q.ack(unknown, m!.leaseId!, out, OTHER_TENANT)));
    assert.equal(answer(() => q.nack(id, m!.leaseId!, {}, T0 + 1, out, OTHER_TENANT)), answer(() => q.nack(unknown, m!.leaseId!, {}, T0 + 1, out, OTHER_TENANT)));
    assert.match(answer(() => q.nack(id, m!.leaseId!, {}, T0 + 1, out, OTHER_TENANT)), /^E_NOT_FOUND /);
    assert.equal(answer(() => q.extend(id, m!.leaseId!, 5_000, T0 + 1, out, OTHER_TENANT)), answer(() => q.extend(unknown, m!.leaseId!, 5_000, T0 + 1, out, OTHER_TENANT)));
    assert.deepEqual(out, [], 'nothing was written');
    assert.equal(q.takeForeignRefusals(), 4, 'the four foreign items, not the unknown ones');
    assert.equal(q.takeForeignRefusals(), 0);
    assert.deepEqual(q.depths(), { ready: 0, leased: 1, delayed: 0, dlq: 0 }, 'still leased');
    // Its own tenant settles it; once dead-lettered, the id stays hidden from the other tenant.
    q.nack(id, m!.leaseId!, {}, T0 + 2, out, TENANT);
    assert.equal(answer(() => q.ack(id, m!.leaseId!, [], OTHER_TENANT)), 'ok undefined');
    assert.throws(() => q.ack(id, m!.leaseId!, [], TENANT), code('E_STALE_LEASE'));
  });

  it('a revived message refuses the lease it had before it died', () => {
    const q = makeQueue({ maxAttempts: 1 });
    const { id, entry } = deadEntry(q);
    q.revive(entry, bytes('a'), []);
    const before = q.get(id)!;
    assert.equal(before.state, 'ready');
    assert.throws(() => q.ack(id, 'old' as LeaseId, []), code('E_STALE_LEASE'));
  });

  it('forgetDead lowers the DLQ depth and deletes the entry from the store', () => {
    const q = makeQueue({ maxAttempts: 1 });
    const { id } = deadEntry(q);
    const out: StoreOp[] = [];
    q.forgetDead(id, out);
    assert.deepEqual(out, [{ op: 'delDlq', shard: SHARD, msgId: id }]);
    assert.equal(q.depths().dlq, 0);
  });

  it('SEND emits putMsg with the payload and putDedup; RECV, NACK emit putMsg; ACK emits delMsg; dying emits delMsg and putDlq', () => {
    const q = queueWithRng(0, { maxAttempts: 2 });
    const store = new StoreModel();
    const out: StoreOp[] = [];
    const input = sendInput('orders', 'hello');
    const id = q.enqueue(input, T0, out).msgId;
    assert.deepEqual(out.map((op) => op.op), ['putMsg', 'putDedup']);
    const put = out[0]!;
    assert.ok(put.op === 'putMsg', 'put.op === "putMsg"');
    assert.deepEqual(put.payload, input.payload);
    assert.equal(put.meta.state, 'ready');
    assert.equal(put.meta.attempt, 0);
    assert.equal(put.meta.payloadHash, input.payloadHash);
    assert.equal(put.meta.size, input.payload.byteLength);
    const dedup = out[1]!;
    assert.ok(dedup.op === 'putDedup', 'dedup.op === "putDedup"');
    assert.deepEqual(dedup.entry, { msgId: id, payloadHash: input.payloadHash, expiresAt: T0 + LIMITS.replayWindowMs });
    store.apply(out);

    const step = (f: (o: StoreOp[]) => void): StoreOp[] => {
      const o: StoreOp[] = [];
      f(o);
      store.apply(o);
      assert.deepEqual(store.depths(), q.depths(), 'the ops describe the change');
      return o;
    };
    let m!: MessageMeta;
    let ops = step((o) => ([m] = q.lease(recv('orders'), T0, o)));
    assert.deepEqual(ops.map((op) => op.op), ['putMsg']);
    assert.equal(store.msgs.get(id)!.leaseId, m.leaseId);
    ops = step((o) => q.nack(id, m.leaseId!, {}, T0 + 1, o));
    assert.deepEqual(ops.map((op) => op.op), ['putMsg']);
    assert.equal(store.msgs.get(id)!.history.length, 1);
    step((o) => ([m] = q.lease(recv('orders'), T0 + 2, o)));
    ops = step((o) => q.nack(id, m.leaseId!, {}, T0 + 3, o));
    assert.deepEqual(ops.map((op) => op.op), ['delMsg', 'putDlq']);
    assert.equal(store.dlq.get(id)!.meta.history.length, 2);
    assert.equal(store.payloads.has(id), true, 'the payload stays with the DLQ entry');

    let other!: { msgId: MsgId };
    step((o) => (other = q.enqueue(sendInput('orders', 'bye'), T0 + 4, o)));
    step((o) => ([m] = q.lease(recv('orders'), T0 + 5, o)));
    ops = step((o) => q.ack(other.msgId, m.leaseId!, o));
    assert.deepEqual(ops, [{ op: 'delMsg', shard: SHARD, msgId: other.msgId, tenant: TENANT, topic: 'orders', state: 'leased' }]);
  });

  it('the meta an op carries is a snapshot that later steps do not change', () => {
    const q = queueWithRng(0);
    const sendOps: StoreOp[] = [];
    const id = q.enqueue(sendInput('orders', 'a'), T0, sendOps).msgId;
    const leaseOps: StoreOp[] = [];
    const [m] = q.lease(recv('orders'), T0, leaseOps);
    const nackOps: StoreOp[] = [];
    q.nack(id, m!.leaseId!, { delayMs: 0 }, T0 + 1, nackOps);
    q.lease(recv('orders'), T0 + 2, []);
    q.releaseOwner(ALICE, T0 + 3, []);
    const sent = sendOps[0]!;
    assert.ok(sent.op === 'putMsg', 'sent.op === "putMsg"');
    assert.equal(sent.meta.state, 'ready');
    assert.equal(sent.meta.attempt, 0);
    assert.equal(sent.meta.leaseId, undefined);
    assert.deepEqual(sent.meta.history, []);
    const leased = leaseOps[0]!;
    assert.ok(leased.op === 'putMsg', 'leased.op === "putMsg"');
    assert.equal(leased.meta.state, 'leased');
    assert.equal(leased.meta.attempt, 1);
    const nacked = nackOps[0]!;
    assert.ok(nacked.op === 'putMsg', 'nacked.op === "putMsg"');
    assert.equal(nacked.meta.history.length, 1);
  });

  it('the putMsg of a revived message is a snapshot that later attempts do not change', () => {
    const q = queueWithRng(0, { maxAttempts: 1 });
    const id = send(q, 'orders', 'a');
    let [m] = lease(q, 'orders');
    const s = q.nack(id, m!.leaseId!, {}, T0, []);
    assert.ok(s.kind === 'dead', 's.kind === "dead"');
    const out: StoreOp[] = [];
    q.revive(s.entry, bytes('a'), out);
    [m] = lease(q, 'orders', T0 + 1);
    q.nack(id, m!.leaseId!, {}, T0 + 2, []);
    const put = out.find((op) => op.op === 'putMsg')!;
    assert.ok(put.op === 'putMsg', 'put.op === "putMsg"');
    assert.deepEqual(put.meta.history, []);
    assert.equal(put.meta.attempt, 0);
  });

  it('nextDeadline is the earliest lease, delay or idempotency expiry', () => {
    const q = makeQueue({ replayWindowMs: 10_000 });
    assert.equal(q.nextDeadline(), undefined);
    send(q, 'orders', 'a');
    assert.equal(q.nextDeadline(), T0 + 10_000);
    q.enqueue(sendInput('orders', 'b', { delayMs: 5_000 }), T0, []);
    assert.equal(q.nextDeadline(), T0 + 5_000);
    lease(q, 'orders', T0, { visibilityMs: 1_000 });
    assert.equal(q.nextDeadline(), T0 + 1_000);
  });
});

describe('shard queue: the lease table', () => {
  it('an acknowledged, NACKed, released or extended lease leaves no deadline behind', () => {
    const q = makeQueue({ replayWindowMs: 100_000 });
    for (const text of ['a', 'b', 'c', 'd']) send(q, 'orders', text);
    const [a, b, c, d] = lease(q, 'orders', T0, { visibilityMs: 1_000 });
    q.ack(a!.msgId, a!.leaseId!, []);
    q.nack(b!.msgId, b!.leaseId!, { delayMs: 50_000 }, T0, []);
    q.extend(c!.msgId, c!.leaseId!, 5_000, T0, []);
    assert.equal(q.nextDeadline(), T0 + 1_000, "d's deadline, not a's or b's");
    q.ack(d!.msgId, d!.leaseId!, []);
    assert.equal(q.nextDeadline(), T0 + 5_000, "c's extended deadline, not its first one");
    q.releaseOwner(ALICE, T0, []);
    assert.equal(q.nextDeadline(), T0 + 50_000, 'only the NACK delay is left');
  });

  it('leases of different visibilities expire in deadline order, each exactly once', () => {
    const q = queueWithRng(0, { replayWindowMs: 100_000 });
    for (const text of ['a', 'b', 'c']) send(q, 'orders', text);
    const [long] = lease(q, 'orders', T0, { visibilityMs: 900, maxMessages: 1 });
    const [short] = lease(q, 'orders', T0 + 100, { visibilityMs: 300, maxMessages: 1 });
    const [mid] = lease(q, 'orders', T0 + 200, { visibilityMs: 600, maxMessages: 1 });
    const { settled } = q.tick(T0 + 900, []);
    assert.deepEqual(settled.map((s) => (s.kind === 'requeued' ? s.meta.msgId : '')), [short!.msgId, mid!.msgId, long!.msgId]);
    assert.equal(q.tick(T0 + 10_000, []).settled.length, 0);
  });

  it("the store's copy of a leased message has the stored fields in their order, not the lease's RAM state", () => {
    const q = makeQueue();
    const out: StoreOp[] = [];
    q.enqueue(sendInput('orders', 'a', { attrs: { k: 'v' } }), T0, out);
    const [m] = q.lease(recv('orders'), T0, out);
    q.extend(m!.msgId, m!.leaseId!, 2_000, T0, out);
    q.nack(m!.msgId, m!.leaseId!, { delayMs: 0 }, T0, out);
    const stored = ['msgId', 'tenant', 'topic', 'idemKey', 'payloadHash', 'size', 'enqueuedAt', 'attempt', 'state', 'dueAt', 'history', 'attrs'];
    const keys = out.flatMap((op) => (op.op === 'putMsg' ? [Object.keys(op.meta)] : []));
    assert.deepEqual(keys, [stored, [...stored, 'leaseId', 'owner'], [...stored, 'leaseId', 'owner'], [...stored, 'leaseId', 'owner']]);
  });

  it('a lease restored from the store (keep-leases) expires at its stored deadline and is fenced like any other', () => {
    const q = queueWithRng(0);
    send(q, 'orders', 'a');
    const [m] = lease(q, 'orders', T0, { visibilityMs: 1_000 });
    const fresh = queueWithRng(0);
    fresh.restoreMessage({ ...m!, history: [] });
    assert.equal(fresh.nextDeadline(), T0 + 1_000);
    assert.throws(() => fresh.ack(m!.msgId, leaseIdFor(SHARD, 'X'.repeat(26)), []), code('E_STALE_LEASE'));
    const { settled } = fresh.tick(T0 + 1_000, []);
    assert.equal(settled.length, 1);
    assert.throws(() => fresh.ack(m!.msgId, m!.leaseId!, []), code('E_STALE_LEASE'));
  });
});
