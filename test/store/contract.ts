/**
 * The behaviour every Store keeps, run against each implementation by its own test file
 * (`memory.test.ts`, `level.test.ts`) through a factory.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { MsgId, Topic } from '../../src/domain/types.ts';
import { MailboxError } from '../../src/errors.ts';
import type { StoreFaults } from '../../src/store/faults.ts';
import type { Store } from '../../src/store/store.ts';
import { dlqEntry, meta, msgId, payload, S0, S1, delMsg, storedMessages } from './fixtures.ts';

export interface StoreHarness {
  store: Store & { faults: StoreFaults };
  /** Closes and opens the same data again (a restart); returns the reopened store. */
  reopen(): Promise<Store & { faults: StoreFaults }>;
  dispose(): Promise<void>;
}

export function storeContract(name: string, create: () => Promise<StoreHarness>): void {
  describe(`${name} store contract`, () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await create();
    });
    afterEach(async () => {
      await h.dispose();
    });

    it('returns a committed message from loadShard and its payload from getPayloads', async () => {
      const id = msgId();
      const body = payload(100);
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(id, { attrs: { a: 'b' } }), payload: body }]);
      const snap = await h.store.loadShard(S0);
      assert.deepEqual((await storedMessages(h.store, S0)), [meta(id, { attrs: { a: 'b' } })]);
      assert.equal(snap.dlqDepth, 0);
      const [got, missing] = await h.store.getPayloads(S0, [id, msgId()]);
      assert.deepEqual(Buffer.from(got!), Buffer.from(body));
      assert.equal(missing, undefined);
    });

    it('keeps shards apart', async () => {
      const a = msgId();
      const b = msgId();
      await h.store.commit([
        { op: 'putMsg', shard: S0, meta: meta(a), payload: payload() },
        { op: 'putMsg', shard: S1, meta: meta(b), payload: payload() },
      ]);
      assert.deepEqual((await storedMessages(h.store, S0)).map((m) => m.msgId), [a]);
      assert.deepEqual((await storedMessages(h.store, S1)).map((m) => m.msgId), [b]);
      assert.deepEqual(await h.store.getPayloads(S1, [a]), [undefined]);
    });

    it('lists messages in ascending msgId order', async () => {
      const ids = [msgId(), msgId(), msgId()];
      await h.store.commit([...ids].reverse().map((id) => ({ op: 'putMsg' as const, shard: S0, meta: meta(id), payload: payload() })));
      assert.deepEqual((await storedMessages(h.store, S0)).map((m) => m.msgId), ids);
    });

    it('keeps the payload when a state change is committed without one', async () => {
      const id = msgId();
      const body = payload(64);
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: body }]);
      const leased = meta(id, { state: 'leased', attempt: 1, dueAt: 1_700_000_030_000 });
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: leased, was: 'ready' }]);
      assert.deepEqual((await storedMessages(h.store, S0)), [leased]);
      assert.deepEqual(Buffer.from((await h.store.getPayloads(S0, [id]))[0]!), Buffer.from(body));
    });

    // Committed ops belong to the store (Store contract), so only the payload bytes are copied
    // on the way in; everything read back is a copy.
    it('does not let a caller change stored state through the payload it committed or the objects it loaded', async () => {
      const id = msgId();
      const m = meta(id);
      const body = payload(8);
      const copy = Buffer.from(body);
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: m, payload: body }]);
      body.fill(7);
      const loaded = (await storedMessages(h.store, S0))[0]!;
      assert.equal(loaded.state, 'ready');
      assert.equal(loaded.history.length, 0);
      loaded.history.push({ attempt: 1, outcome: 'expired', at: 2 });
      assert.equal((await storedMessages(h.store, S0))[0]!.history.length, 0);
      assert.deepEqual(Buffer.from((await h.store.getPayloads(S0, [id]))[0]!), copy);
    });

    it('deletes an acked message and its payload', async () => {
      const id = msgId();
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: payload() }]);
      await h.store.commit([delMsg(meta(id))]);
      assert.deepEqual((await storedMessages(h.store, S0)), []);
      assert.deepEqual(await h.store.getPayloads(S0, [id]), [undefined]);
    });

    it('keeps the payload when a message moves to the DLQ in one commit', async () => {
      const id = msgId();
      const body = payload(200);
      const m = meta(id, { attempt: 5, history: [{ attempt: 5, outcome: 'nacked', at: 3, reason: 'bad' }] });
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: m, payload: body }]);
      await h.store.commit([
        delMsg(meta(id)),
        { op: 'putDlq', shard: S0, entry: dlqEntry(m) },
        { op: 'putShardInfo', shard: S0, info: { dlqDepth: 1 } },
      ]);
      const snap = await h.store.loadShard(S0);
      assert.deepEqual((await storedMessages(h.store, S0)), []);
      assert.equal(snap.dlqDepth, 1);
      assert.deepEqual(Buffer.from((await h.store.getPayloads(S0, [id]))[0]!), Buffer.from(body), 'one payload serves the DLQ entry');
      assert.deepEqual(Buffer.from((await h.store.getDlqPayload(S0, id))!), Buffer.from(body));
      assert.deepEqual(await h.store.listDlq(S0, { limit: 10 }), [dlqEntry(m)]);
    });

    it('keeps the payload whichever order the move ops come in', async () => {
      const id = msgId();
      const body = payload(30);
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: body }]);
      await h.store.commit([
        { op: 'putDlq', shard: S0, entry: dlqEntry(meta(id)) },
        delMsg(meta(id)),
      ]);
      assert.deepEqual(Buffer.from((await h.store.getDlqPayload(S0, id))!), Buffer.from(body));
    });

    it('reprocesses a DLQ entry back into a live message with its payload', async () => {
      const id = msgId();
      const body = payload(40);
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: body }]);
      await h.store.commit([delMsg(meta(id)), { op: 'putDlq', shard: S0, entry: dlqEntry(meta(id)) }]);
      await h.store.commit([{ op: 'delDlq', shard: S0, msgId: id }, { op: 'putMsg', shard: S0, meta: meta(id, { attempt: 0 }) }]);
      const snap = await h.store.loadShard(S0);
      assert.equal(snap.dlqDepth, 0);
      assert.deepEqual((await storedMessages(h.store, S0)).map((m) => m.msgId), [id]);
      assert.deepEqual(Buffer.from((await h.store.getPayloads(S0, [id]))[0]!), Buffer.from(body));
      assert.equal(await h.store.getDlqPayload(S0, id), undefined);
    });

    it('drops the payload when a DLQ entry is deleted', async () => {
      const id = msgId();
      await h.store.commit([{ op: 'putDlq', shard: S0, entry: dlqEntry(meta(id)), payload: payload() }]);
      assert.ok(await h.store.getDlqPayload(S0, id));
      await h.store.commit([{ op: 'delDlq', shard: S0, msgId: id }]);
      assert.equal(await h.store.getDlqPayload(S0, id), undefined);
      assert.equal((await h.store.loadShard(S0)).dlqDepth, 0);
    });

    it('stores, returns and deletes idempotency records', async () => {
      const entry = { msgId: msgId(), payloadHash: 'cd'.repeat(32), expiresAt: 1_700_000_300_000 };
      await h.store.commit([
        { op: 'putDedup', shard: S0, key: 't:user:42:inbox:k1', entry },
        { op: 'putDedup', shard: S0, key: 't:user:42:inbox:k2', entry },
      ]);
      await h.store.commit([{ op: 'delDedup', shard: S0, key: 't:user:42:inbox:k2' }]);
      assert.deepEqual(await h.store.scanDedup(S0, { limit: 10 }), [['t:user:42:inbox:k1', entry]]);
      assert.deepEqual(await h.store.getDedup(S0, ['t:user:42:inbox:k1', 't:user:42:inbox:k2']), [entry, undefined]);
      assert.deepEqual(await h.store.scanDedup(S1, { limit: 10 }), []);
      const snap = await h.store.loadShard(S0);
      assert.deepEqual(snap.dedup, h.store.residency === 'all' ? [['t:user:42:inbox:k1', entry]] : [], 'a paged store hands none over at load');
    });

    it('lists the DLQ by topic and reason, in msgId order, page by page', async () => {
      const ids: MsgId[] = [];
      const ops = [];
      for (let i = 0; i < 7; i++) {
        const id = msgId();
        ids.push(id);
        const topic = (i % 2 === 0 ? 'even' : 'odd') as Topic;
        ops.push({ op: 'putDlq' as const, shard: S0, entry: dlqEntry(meta(id, { topic }), { reason: i < 4 ? 'nacked' : 'expired' }), payload: payload() });
      }
      await h.store.commit([...ops.reverse(), { op: 'putShardInfo', shard: S0, info: { dlqDepth: 7 } }]);
      const all = await h.store.listDlq(S0, { limit: 100 });
      assert.deepEqual(all.map((e) => e.meta.msgId), ids);
      const even = await h.store.listDlq(S0, { limit: 100, topic: 'even' });
      assert.deepEqual(even.map((e) => e.meta.msgId), [ids[0], ids[2], ids[4], ids[6]]);
      const expiredOdd = await h.store.listDlq(S0, { limit: 100, topic: 'odd', reason: 'expired' });
      assert.deepEqual(expiredOdd.map((e) => e.meta.msgId), [ids[5]]);
      const page1 = await h.store.listDlq(S0, { limit: 3 });
      const page2 = await h.store.listDlq(S0, { limit: 3, after: page1.at(-1)!.meta.msgId });
      const page3 = await h.store.listDlq(S0, { limit: 3, after: page2.at(-1)!.meta.msgId });
      assert.deepEqual([...page1, ...page2, ...page3].map((e) => e.meta.msgId), ids);
      assert.equal(page3.length, 1);
      assert.deepEqual(await h.store.listDlq(S1, { limit: 10 }), []);
      assert.equal((await h.store.loadShard(S0)).dlqDepth, 7);
    });

    it('applies nothing of a commit that holds an invalid op', async () => {
      const id = msgId();
      const bad = { op: 'putMsg', shard: -1, meta: meta(msgId()) } as never;
      await assert.rejects(
        h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: payload() }, { op: 'putDedup', shard: S0, key: 'k', entry: { msgId: id, payloadHash: 'x', expiresAt: 1 } }, bad]),
        (err: unknown) => err instanceof MailboxError && err.code === 'E_INTERNAL',
      );
      const snap = await h.store.loadShard(S0);
      assert.deepEqual((await storedMessages(h.store, S0)), []);
      assert.deepEqual(snap.dedup, []);
      assert.deepEqual(await h.store.getPayloads(S0, [id]), [undefined]);
    });

    it('rejects commits with E_UNAVAILABLE while a write fault is injected, writes nothing, then recovers', async () => {
      const kept = msgId();
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(kept), payload: payload() }]);
      h.store.faults.failWrites = 'full';
      const lost = msgId();
      await assert.rejects(
        h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(lost), payload: payload() }, delMsg(meta(kept))]),
        (err: unknown) => err instanceof MailboxError && err.code === 'E_UNAVAILABLE' && err.retryable && /disk full/.test(err.message),
      );
      h.store.faults.clear();
      h.store.faults.failNext(1, 'io');
      await assert.rejects(h.store.commit([delMsg(meta(kept))]), { code: 'E_UNAVAILABLE' });
      assert.deepEqual((await storedMessages(h.store, S0)).map((m) => m.msgId), [kept]);
      const later = msgId();
      await h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(later), payload: payload() }]);
      assert.deepEqual((await storedMessages(h.store, S0)).map((m) => m.msgId), [kept, later]);
    });

    it('resolves commits in the order they were issued', async () => {
      const order: number[] = [];
      const ids = Array.from({ length: 50 }, () => msgId());
      await Promise.all(ids.map((id, i) => h.store.commit([{ op: 'putMsg', shard: S0, meta: meta(id), payload: payload() }]).then(() => order.push(i))));
      assert.deepEqual(order, ids.map((_, i) => i));
    });

    it('returns the same data after a restart of the store', async () => {
      const id = msgId();
      const dead = msgId();
      const body = payload(50);
      const entry = { msgId: id, payloadHash: 'ef'.repeat(32), expiresAt: 9 };
      await h.store.commit([
        { op: 'putMsg', shard: S1, meta: meta(id), payload: body },
        { op: 'putDedup', shard: S1, key: 'dk', entry },
        { op: 'putDlq', shard: S1, entry: dlqEntry(meta(dead)), payload: payload(5) },
      ]);
      const before = await h.store.loadShard(S1);
      const store = await h.reopen();
      assert.deepEqual(await store.loadShard(S1), before);
      assert.deepEqual(Buffer.from((await store.getPayloads(S1, [id]))[0]!), Buffer.from(body));
      assert.equal((await store.getDlqPayload(S1, dead))?.length, 5);
    });

    it('refuses work once closed', async () => {
      await h.store.close();
      await assert.rejects(h.store.commit([delMsg(meta(msgId()))]), { code: 'E_UNAVAILABLE' });
      await assert.rejects(h.store.loadShard(S0), { code: 'E_UNAVAILABLE' });
    });
  });
}
