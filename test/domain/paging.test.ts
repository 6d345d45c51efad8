/**
 * Paging (a paged store): RAM holds a window of each topic's ready messages, the rest wait in
 * the store, counted, and come back page by page in FIFO order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idTimePrefix } from '../../src/domain/ids.ts';
import { rebuildShard } from '../../src/domain/recovery.ts';
import { topicKey, type LeaseRequest, type PagingLimits, type ShardQueue } from '../../src/domain/shard-queue.ts';
import type { MessageMeta, StoreOp } from '../../src/domain/types.ts';
import { StoreModel, T0, TENANT, makeQueue, sendInput, session, topic } from './harness.ts';

const PAGING: PagingLimits = { readyWindow: 3, residentBudget: 5, dedupResident: 2 };

/** A paged queue over a store model, driven the way the shard actor drives it. */
function setup(paging: PagingLimits = PAGING) {
  const store = new StoreModel();
  let q = makeQueue({ paging });
  const run = <T>(f: (out: StoreOp[]) => T): T => {
    const out: StoreOp[] = [];
    const r = f(out);
    q.flushCounters(out);
    store.apply(out);
    return r;
  };
  const pageIn = (t: string): number => {
    const key = topicKey(TENANT, topic(t));
    let reads = 0;
    while (q.needsPage(key)) {
      const read = q.beginRead(key)!;
      q.applyPage(key, read, store.readyPage(read.tenant, read.topic, read));
      reads++;
    }
    return reads;
  };
  const send = (t: string, text: string, now = T0) => run((o) => q.enqueue(sendInput(t, text), now, o)).msgId;
  const lease = (t: string, max = 1): MessageMeta[] => {
    const req: LeaseRequest = { tenant: TENANT, topic: topic(t), visibilityMs: 1_000, maxMessages: max, owner: session('c') };
    return run((o) => q.lease(req, T0, o));
  };
  const ack = (m: MessageMeta): void => {
    run((o) => q.ack(m.msgId, m.leaseId!, o));
  };
  return {
    store, run, pageIn, send, lease, ack,
    get q(): ShardQueue {
      return q;
    },
    /** An actor restart (leases kept), or with `restart` a process start: open leases come back ready (server_restart). */
    rebuild(restart = false): void {
      q = makeQueue({ paging }, 31);
      const input = store.pagedRecoveryInput();
      run((o) => rebuildShard(q, input, T0 + 10, restart ? 'expire-leases' : 'keep-leases', () => true, o));
    },
  };
}

describe('shard queue: paging', () => {
  it('keeps a window of each topic in RAM and the rest in the store only, counted as ready', () => {
    const s = setup();
    for (let i = 0; i < 10; i++) s.send('orders', `m${i}`);
    assert.equal(s.q.residentReady, 3, 'the window');
    assert.equal(s.q.depths().ready, 10, 'the depth counts what waits in the store');
    assert.equal(s.store.msgs.size, 10, 'every message is stored');
    assert.equal(s.store.topicLive.get(topicKey(TENANT, topic('orders')))?.live, 10, 'and counted per topic in the store');
  });

  it('pages the rest in as the window drains, in FIFO order', () => {
    const s = setup();
    for (let i = 0; i < 10; i++) s.send('orders', `m${i}`);
    const got: string[] = [];
    for (;;) {
      s.pageIn('orders');
      const [m] = s.lease('orders');
      if (m === undefined) break;
      got.push(m.idemKey);
      assert.ok(s.q.residentReady <= 3, `window exceeded: ${s.q.residentReady}`);
    }
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
    assert.equal(s.q.depths().ready, 0);
  });

  it('a new message spills while older ones wait in the store, so it cannot overtake them', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.send('orders', `m${i}`);
    s.lease('orders', 3); // the window is empty, m3 and m4 are in the store
    s.send('orders', 'late');
    s.pageIn('orders');
    assert.deepEqual(s.lease('orders', 3).map((m) => m.idemKey), ['m3', 'm4', 'late']);
  });

  it('a shard-wide budget bounds what new arrivals leave in RAM across topics', () => {
    const s = setup();
    for (const t of ['a', 'b', 'c', 'd']) for (let i = 0; i < 3; i++) s.send(t, `${t}${i}`);
    assert.equal(s.q.residentReady, 5, 'the budget');
    assert.equal(s.q.depths().ready, 12);
    s.pageIn('d');
    assert.deepEqual(s.lease('d', 3).map((m) => m.idemKey), ['d0', 'd1', 'd2'], 'a topic past the budget is paged in on demand');
  });

  it('a rebuild reads counters, not the backlog, and pages from the start of each topic', () => {
    const s = setup();
    for (let i = 0; i < 8; i++) s.send('orders', `m${i}`);
    const [leased] = s.lease('orders');
    s.rebuild();
    assert.equal(s.q.residentReady, 0, 'nothing ready is read at load');
    assert.equal(s.q.depths().ready, 7);
    assert.equal(s.q.depths().leased, 1, 'held messages are loaded');
    s.pageIn('orders');
    assert.deepEqual(s.lease('orders', 3).map((m) => m.idemKey), ['m1', 'm2', 'm3']);
    assert.equal(s.q.get(leased!.msgId)?.state, 'leased');
  });

  it('a page read that comes back short ends the backlog, except for what spilled while it was out', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.send('orders', `m${i}`);
    s.lease('orders', 3);
    const key = topicKey(TENANT, topic('orders'));
    const read = s.q.beginRead(key, 10)!;
    const page = s.store.readyPage(read.tenant, read.topic, read); // m3, m4: short of 10
    s.send('orders', 'during'); // spills: the read did not see it
    s.q.applyPage(key, read, page);
    assert.equal(s.q.depths().ready, 3, '"during" still counts as waiting in the store');
    assert.deepEqual(s.lease('orders', 5).map((m) => m.idemKey), ['m3', 'm4']);
    s.pageIn('orders');
    assert.deepEqual(s.lease('orders', 5).map((m) => m.idemKey), ['during']);
  });

  it('a message acknowledged while a page read is out is not brought back by that read (nor counted in place of a spilled one)', () => {
    // The crash-recovery loss (kill -9 under load): after a restart a requeued message is in RAM
    // and in the store's ready range, and paging starts from the range's beginning. The read saw
    // its record; it was leased and acknowledged before the answer came back.
    const s = setup();
    for (let i = 0; i < 6; i++) s.send('orders', `m${i}`);
    s.lease('orders'); // m0 leased when the process dies
    s.rebuild(true);
    const key = topicKey(TENANT, topic('orders'));
    assert.equal(s.q.depths().ready, 6, 'm0 requeued in RAM, m1..m5 in the store');
    const read = s.q.beginRead(key)!;
    const page = s.store.readyPage(read.tenant, read.topic, read);
    assert.ok(page.some((m) => m.idemKey === 'm0'), 'the read sees the requeued message');
    const [again] = s.lease('orders');
    assert.equal(again?.idemKey, 'm0');
    s.ack(again);
    s.q.applyPage(key, read, page);
    assert.equal(s.q.get(again.msgId), undefined, 'the acknowledged message stays gone');
    const got: string[] = [];
    for (let m = (s.pageIn('orders'), s.lease('orders')[0]); m !== undefined; s.pageIn('orders'), m = s.lease('orders')[0]) {
      got.push(m.idemKey);
      s.ack(m);
    }
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4', 'm5'], 'every stored message is delivered, none twice');
    assert.equal(s.store.msgs.size, 0);
  });

  it('a message acknowledged while a retention read is out is not purged in place of a spilled one', () => {
    const s = setup();
    for (let i = 0; i < 6; i++) s.send('orders', `old${i}`, T0);
    s.lease('orders'); // old0 leased when the process dies
    s.rebuild(true);
    const key = topicKey(TENANT, topic('orders'));
    const read = { ...s.q.beginRead(key, 100)!, before: idTimePrefix(T0 + 1_000) };
    const page = s.store.readyPage(read.tenant, read.topic, read);
    const [m] = s.lease('orders');
    assert.equal(m?.idemKey, 'old0');
    s.ack(m);
    const purged = s.run((o) => s.q.purgeSpilled(key, page, o));
    assert.deepEqual(purged.map((p) => p.idemKey), ['old1', 'old2', 'old3', 'old4', 'old5']);
    assert.equal(s.store.msgs.size, 0, 'nothing is left in the store uncounted');
    assert.equal(s.q.depths().ready, 0);
  });

  it('retention drops messages that wait in the store without reading them into the window', () => {
    const s = setup();
    for (let i = 0; i < 6; i++) s.send('orders', `old${i}`, T0);
    const cutoff = T0 + 1_000;
    const key = topicKey(TENANT, topic('orders'));
    const read = { ...s.q.beginRead(key, 100)!, before: idTimePrefix(cutoff) };
    const purged = s.run((o) => s.q.purgeSpilled(key, s.store.readyPage(read.tenant, read.topic, read), o));
    assert.deepEqual(purged.map((m) => m.idemKey), ['old3', 'old4', 'old5']);
    assert.equal(s.q.depths().ready, 3);
    assert.equal(s.store.msgs.size, 3);
    assert.equal(s.store.topicLive.get(key)?.live, 3);
    assert.equal(s.store.payloads.size, 3, 'their payloads go too');
  });

  it('the idempotency cache drops old keys from RAM but a key the filter may hold is found in the store', () => {
    const s = setup();
    const first = s.send('orders', 'k0');
    for (let i = 1; i < 5; i++) s.send('orders', `k${i}`);
    const key = `${TENANT}\u0000orders\u0000k0`;
    assert.equal(s.q.dedup.lookup(key, T0), undefined, 'evicted from RAM (2 kept)');
    assert.equal(s.q.dedup.mayBeStored(key), true, 'no filter yet: the store must be asked');
    s.q.dedup.admit(key, s.store.dedup.get(key)!, T0);
    assert.deepEqual(s.run((o) => s.q.enqueue(sendInput('orders', 'k0'), T0, o)), { msgId: first, duplicate: true });
  });

  it('after a sweep the filter spares the store read for keys it never held', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.send('orders', `k${i}`);
    s.q.dedup.beginSweep();
    for (const k of s.store.dedup.keys()) s.q.dedup.sweepSaw(k);
    s.q.dedup.endSweep();
    assert.equal(s.q.dedup.filterReady, true);
    assert.equal(s.q.dedup.mayBeStored(`${TENANT}\u0000orders\u0000k0`), true);
    assert.equal(s.q.dedup.mayBeStored(`${TENANT}\u0000orders\u0000never-sent`), false);
  });
});

describe('shard queue: paging ceiling', () => {
  it('past four times the resident budget only empty windows are refilled, a small page at a time', () => {
    const s = setup({ readyWindow: 100, residentBudget: 2, dedupResident: 2 });
    const topics = ['a', 'b', 'c', 'd'];
    for (const t of topics) for (let i = 0; i < 50; i++) s.send(t, `${t}${i}`);
    assert.equal(s.q.residentReady, 2, 'arrivals stop at the budget');
    for (const t of topics) s.pageIn(t);
    // 'a' holds the budget's two and pages its whole backlog in (under the ceiling of 8 when it
    // asked); then the ceiling is passed and the others get one small page each.
    assert.equal(s.q.residentReady, 50 + 3 * 32);
    for (const t of topics) {
      const got: string[] = [];
      for (;;) {
        s.pageIn(t);
        const [m] = s.lease(t);
        if (m === undefined) break;
        got.push(m.idemKey);
        s.run((o) => s.q.ack(m.msgId, m.leaseId!, o));
      }
      assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `${t}${i}`), `${t} drains in order`);
    }
  });
});
