import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMailbox, type Delivery, type MsgId } from '../../src/index.ts';
import type { MailboxRuntime } from '../../src/runtime/mailbox.ts';
import { listAllDlq, waitUntil } from '../../chaos/inspect.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('runtime sessions', () => {
  let mb: MailboxRuntime;
  before(async () => {
    mb = await createMailbox({ amnesia: true, logLevel: 'silent', shards: 4, queue: { maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 2 } });
  });
  after(() => mb.stop());

  test('closing a session releases its open leases at once: the next delivery is attempt 2 and the history shows session_lost', { timeout: 20_000 }, async () => {
    const { msgId } = await mb.send({ topic: 'close:a', idemKey: 'k', payload: bytes('a') });
    const s = mb.openSession();
    const [d1] = await s.recv({ topic: 'close:a', maxMessages: 1, visibilityMs: 600_000 });
    assert.equal(d1?.attempt, 1);
    await s.close();
    assert.equal(s.closed, true);
    // The lease was 10 minutes long: only the release can bring the message back within the test's timeout.
    const [d2] = await mb.recv({ topic: 'close:a', maxMessages: 1, waitMs: 30_000 });
    assert.equal(d2?.msgId, msgId);
    assert.equal(d2?.attempt, 2);
    await mb.nack(d2!.msgId, d2!.leaseId, { reason: 'to the dlq, to read the history' });
    const entry = (await mb.dlq.list({ topic: 'close:a' }))[0]!;
    assert.deepEqual(entry.meta.history.map((h) => [h.attempt, h.outcome]), [[1, 'session_lost'], [2, 'nacked']]);
    assert.equal(await mb.dlq.purge({ topic: 'close:a' }), 1);
  });

  test('killing a session actor releases its leases the same way and the session reports closed', { timeout: 20_000 }, async () => {
    const { msgId } = await mb.send({ topic: 'kill:a', idemKey: 'k', payload: bytes('a') });
    let closedWith: string | undefined;
    const s = mb.openSession({ onClose: (reason) => (closedWith = reason) });
    const [d1] = await s.recv({ topic: 'kill:a', maxMessages: 1, visibilityMs: 600_000 });
    assert.equal(d1?.msgId, msgId);
    await mb.kill(`/root/sessions/${s.id}`, 'test kill');
    assert.ok(await waitUntil(() => s.closed, 10_000));
    assert.match(closedWith ?? '', /test kill/);
    await assert.rejects(s.recv({ topic: 'kill:a', maxMessages: 1 }), { code: 'E_UNAVAILABLE' });
    await assert.rejects(s.ack(d1!.msgId, d1!.leaseId), { code: 'E_UNAVAILABLE' });
    await assert.rejects(mb.ack(d1!.msgId, d1!.leaseId), { code: 'E_STALE_LEASE' }, 'the released lease is stale');
    const [d2] = await mb.recv({ topic: 'kill:a', maxMessages: 1, waitMs: 30_000 });
    assert.equal(d2?.attempt, 2);
    await mb.ack(d2!.msgId, d2!.leaseId);
    assert.equal(mb.tree().children!.find((c) => c.path === '/root/sessions')!.children!.some((c) => c.path.endsWith(s.id)), false);
  });

  test('a subscription with prefetch 5 never has more than 5 unacked deliveries outstanding and refills on ACK', { timeout: 30_000 }, async () => {
    const total = 40;
    for (let i = 0; i < total; i++) await mb.send({ topic: 'sub:a', idemKey: `k${i}`, payload: bytes(`m${i}`) });
    const waiting: Delivery[] = [];
    let outstanding = 0;
    let maxOutstanding = 0;
    let delivered = 0;
    const s = mb.openSession({
      onDeliver: (_sub, ds) => {
        delivered += ds.length;
        outstanding += ds.length;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        waiting.push(...ds);
      },
    });
    try {
      await s.subscribe({ topic: 'sub:a', prefetch: 5, visibilityMs: 60_000 });
      assert.ok(await waitUntil(() => delivered === 5, 10_000), 'the first window fills');
      const seen = new Set<MsgId>();
      while (seen.size < total) {
        assert.ok(await waitUntil(() => waiting.length > 0, 10_000), `refilled after ${seen.size} ACKs`);
        const d = waiting.shift()!;
        seen.add(d.msgId);
        // Counted down when the ACK is sent: the server's count can only be higher.
        outstanding--;
        await s.ack(d.msgId, d.leaseId);
      }
      assert.equal(maxOutstanding, 5);
      assert.equal(delivered, total);
    } finally {
      await s.close();
    }
  });

  test('a long-poll RECV returns as soon as a message arrives', { timeout: 15_000 }, async () => {
    const s = mb.openSession();
    // waitMs is far beyond the test's timeout: only the arrival can end this RECV in time.
    const polling = s.recv({ topic: 'poll:a', maxMessages: 10, waitMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50));
    const { msgId } = await mb.send({ topic: 'poll:a', idemKey: 'k', payload: bytes('a') });
    const ds = await polling;
    assert.deepEqual(ds.map((d) => d.msgId), [msgId]);
    await s.ack(ds[0]!.msgId, ds[0]!.leaseId);
    await s.close();
  });

  test('a session that closes while long-polling gets an empty answer and leaves nothing leased', { timeout: 15_000 }, async () => {
    const s = mb.openSession();
    const polling = s.recv({ topic: 'poll:b', maxMessages: 10, waitMs: 60_000 });
    await s.close();
    assert.deepEqual(await polling, []);
    await mb.send({ topic: 'poll:b', idemKey: 'k', payload: bytes('b') });
    const [d] = await mb.recv({ topic: 'poll:b', maxMessages: 1 });
    assert.equal(d?.attempt, 1, 'the closed session never took it');
    await mb.ack(d!.msgId, d!.leaseId);
    assert.equal((await listAllDlq(mb)).length, 0);
  });
});
