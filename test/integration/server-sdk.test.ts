import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { MailboxError, type ClientDelivery } from '../../src/client/index.ts';
import { CHUNK_SIZE, MAX_BATCH, MAX_FRAME } from '../../src/protocol/index.ts';
import { ULID_RE, eventually, startTestServer } from './helpers/server.ts';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** Asserts that `p` rejects with a MailboxError of `code`. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MailboxError, `expected a MailboxError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test(
  'every SDK operation round-trips over a real socket: HELLO, SEND, SEND_BATCH, RECV, ACK and ACK_BATCH, NACK, EXTEND, SUBSCRIBE and UNSUBSCRIBE, DLQ and PING',
  { timeout: 40_000 },
  async () => {
    const t = await startTestServer();
    try {
      const errors: MailboxError[] = [];
      const client = await t.client({ onError: (e) => errors.push(e) });

      // HELLO: the limits come from the server.
      assert.equal(client.connected, true);
      assert.deepEqual(
        { ...client.limits },
        { maxFrame: MAX_FRAME, chunkSize: CHUNK_SIZE, maxPayload: t.server.mailbox.config.queue.maxPayloadBytes, maxBatch: MAX_BATCH },
      );

      // PING
      const rtt = await client.ping();
      assert.ok(Number.isFinite(rtt) && rtt >= 0);

      // SEND, and the idempotent replay of the same key.
      const topic = 'sdk:ops';
      const first = await client.send({ topic, idemKey: 'one', payload: 'payload one', attrs: { kind: 'single' } });
      assert.match(first.msgId, ULID_RE);
      assert.equal(first.duplicate, false);
      const replay = await client.send({ topic, idemKey: 'one', payload: 'payload one', attrs: { kind: 'single' } });
      assert.deepEqual(replay, { msgId: first.msgId, duplicate: true });
      await rejectsWith(client.send({ topic, idemKey: 'one', payload: 'another payload' }), 'E_IDEM_CONFLICT');

      // SEND_BATCH: sends of one tick are coalesced; each caller gets its own result.
      const batchesBefore = client.stats().sendBatches;
      const batch = await client.sendBatch([2, 3, 4, 5].map((i) => ({ topic, idemKey: `k${i}`, payload: `payload ${i}` })));
      assert.equal(client.stats().sendBatches, batchesBefore + 1, 'four sends went as one SEND_BATCH');
      const batchIds = batch.map((r) => {
        assert.ok(!(r instanceof MailboxError), String(r));
        assert.equal(r.duplicate, false);
        return r.msgId;
      });
      assert.equal(new Set([first.msgId, ...batchIds]).size, 5, 'every message has its own msgId');

      // RECV: five leased deliveries with intact payloads and hashes, in send order.
      const got = await client.recv({ topic, maxMessages: 10, visibilityMs: 30_000, waitMs: 5_000 });
      assert.deepEqual(got.map((d) => d.msgId), [first.msgId, ...batchIds]);
      for (const d of got) {
        assert.equal(d.topic, topic);
        assert.equal(d.attempt, 1);
        assert.equal(d.payloadHash, sha256(d.payload));
        assert.ok(d.leaseDeadline > Date.now(), 'the lease is still running');
        assert.ok(d.leaseId.length > 0);
      }
      assert.equal(text(got[0]!.payload), 'payload one');
      assert.deepEqual(got[0]!.attrs, { kind: 'single' });
      assert.deepEqual(got.slice(1).map((d) => text(d.payload)), ['payload 2', 'payload 3', 'payload 4', 'payload 5']);
      const [d1, d2, d3, d4, d5] = got as [ClientDelivery, ClientDelivery, ClientDelivery, ClientDelivery, ClientDelivery];

      // EXTEND moves the deadline forward.
      const extended = await client.extend(d1.msgId, d1.leaseId, 60_000);
      assert.ok(extended > d1.leaseDeadline, `new deadline ${extended} is after ${d1.leaseDeadline}`);

      // ACK (one) and ACK_BATCH (acks of one tick). ACK is final: acking again finds nothing (E_NOT_FOUND).
      await client.ack(d1.msgId, d1.leaseId);
      const ackBatchesBefore = client.stats().ackBatches;
      await Promise.all([d2.ack(), d3.ack()]);
      assert.equal(client.stats().ackBatches, ackBatchesBefore + 1, 'two acks went as one ACK_BATCH');
      await rejectsWith(client.ack(d1.msgId, d1.leaseId), 'E_NOT_FOUND');

      // NACK with a delay and a reason: the message comes back as attempt 2.
      await client.nack(d4.msgId, d4.leaseId, { delayMs: 50, reason: 'busy' });
      await rejectsWith(client.nack(d4.msgId, d4.leaseId), 'E_STALE_LEASE');
      await d5.ack();
      const [again] = await client.recv({ topic, maxMessages: 10, waitMs: 10_000 });
      assert.equal(again?.msgId, d4.msgId);
      assert.equal(again?.attempt, 2);
      assert.notEqual(again?.leaseId, d4.leaseId);
      await again!.ack();
      assert.deepEqual(await client.recv({ topic, maxMessages: 10, waitMs: 50 }), [], 'nothing left on the topic');

      // SUBSCRIBE: pushed deliveries; UNSUBSCRIBE (closing the subscription) stops them.
      const subTopic = 'sdk:push';
      const pushed: ClientDelivery[] = [];
      const sub = client.subscribe({ topic: subTopic, prefetch: 16, visibilityMs: 30_000 }, async (d) => {
        pushed.push(d);
        await d.ack();
      });
      await sub.ready;
      assert.ok(sub.id, 'the server assigned a subscription id');
      const sent = await client.sendBatch([1, 2, 3].map((i) => ({ topic: subTopic, idemKey: `p${i}`, payload: `push ${i}` })));
      await eventually('three pushed deliveries', () => pushed.length === 3);
      assert.deepEqual(pushed.map((d) => d.msgId), sent.map((r) => (r as { msgId: string }).msgId));
      assert.deepEqual(pushed.map((d) => text(d.payload)), ['push 1', 'push 2', 'push 3']);
      await sub.close();
      assert.equal(sub.closed, true);
      const after = await client.send({ topic: subTopic, idemKey: 'after-close', payload: 'not pushed' });
      const [pulled] = await client.recv({ topic: subTopic, maxMessages: 1, waitMs: 5_000 });
      assert.equal(pulled?.msgId, after.msgId, 'after UNSUBSCRIBE the message waits for a RECV');
      assert.equal(pushed.length, 3, 'the closed subscription got nothing more');
      await pulled!.ack();

      // DLQ operations answer (empty here; test "NACKs past maxAttempts…" fills it).
      assert.deepEqual(await client.dlq.list({ topic }), []);
      assert.equal(await client.dlq.reprocess({ topic }), 0);
      assert.equal(await client.dlq.purge({ topic }), 0);

      assert.deepEqual(errors, [], 'no error reached onError');
      await client.close();
      await rejectsWith(client.ping(), 'E_UNAVAILABLE');
    } finally {
      await t.stop();
    }
  },
);

test('an expired lease redelivers the message with attempt 2 and fences the old lease', { timeout: 30_000 }, async () => {
  const t = await startTestServer();
  try {
    const client = await t.client();
    const topic = 'sdk:visibility';
    const { msgId } = await client.send({ topic, idemKey: 'v1', payload: 'expire me' });
    const [first] = await client.recv({ topic, maxMessages: 1, visibilityMs: 200 });
    assert.equal(first?.msgId, msgId);
    assert.equal(first?.attempt, 1);
    // Not acked: after 200 ms the lease expires and a long-poll picks the message up again.
    const [second] = await client.recv({ topic, maxMessages: 1, visibilityMs: 30_000, waitMs: 15_000 });
    assert.equal(second?.msgId, msgId);
    assert.equal(second?.attempt, 2);
    assert.equal(text(second!.payload), 'expire me');
    assert.notEqual(second?.leaseId, first?.leaseId);
    await rejectsWith(first!.ack(), 'E_STALE_LEASE');
    await second!.ack();
    const depths = await t.depths();
    assert.deepEqual(depths, { ready: 0, delayed: 0, leased: 0, dlq: 0 });
  } finally {
    await t.stop();
  }
});

test(
  'NACKs past maxAttempts move a message to the DLQ; DLQ_REPROCESS brings it back as attempt 1; DLQ_PURGE empties the DLQ',
  { timeout: 30_000 },
  async () => {
    const t = await startTestServer({ config: { queue: { maxAttempts: 2, backoffBaseMs: 10, backoffMaxMs: 50 } } });
    try {
      const client = await t.client();
      const topic = 'sdk:dlq';
      const { msgId } = await client.send({ topic, idemKey: 'd1', payload: 'poison', attrs: { origin: 'test' } });

      /** Leases the message and NACKs it; returns the attempt it was delivered with. */
      const nackOnce = async (reason: string): Promise<number> => {
        const [d] = await client.recv({ topic, maxMessages: 1, waitMs: 10_000 });
        assert.equal(d?.msgId, msgId);
        await d!.nack({ delayMs: 0, reason });
        return d!.attempt;
      };
      assert.equal(await nackOnce('first try'), 1);
      assert.equal(await nackOnce('second try'), 2);

      await eventually('the DLQ entry', async () => (await client.dlq.list({ topic })).length === 1, 10_000);
      const [entry] = await client.dlq.list({ topic });
      assert.equal(entry?.msgId, msgId);
      assert.equal(entry?.reason, 'nacked');
      assert.equal(entry?.attempt, 2);
      assert.equal(entry?.payloadHash, sha256('poison'));
      assert.deepEqual(entry?.attrs, { origin: 'test' });
      assert.deepEqual(entry?.history.map((h) => [h.attempt, h.outcome, h.reason]), [[1, 'nacked', 'first try'], [2, 'nacked', 'second try']]);
      assert.deepEqual(await client.recv({ topic, maxMessages: 1, waitMs: 50 }), [], 'a dead message is not delivered');
      assert.equal((await t.depths()).dlq, 1);

      assert.equal(await client.dlq.reprocess({ topic }), 1);
      const [back] = await client.recv({ topic, maxMessages: 1, waitMs: 10_000 });
      assert.equal(back?.msgId, msgId);
      assert.equal(back?.attempt, 1, 'attempts reset');
      assert.equal(text(back!.payload), 'poison');
      assert.deepEqual(await client.dlq.list({ topic }), []);

      // Dead-letter it once more, then purge.
      await back!.nack({ delayMs: 0, reason: 'again' });
      assert.equal(await nackOnce('last'), 2);
      await eventually('the DLQ entry again', async () => (await client.dlq.list({ topic })).length === 1, 10_000);
      assert.equal(await client.dlq.purge({ topic }), 1);
      assert.deepEqual(await client.dlq.list({ topic }), []);
      assert.deepEqual(await t.depths(), { ready: 0, delayed: 0, leased: 0, dlq: 0 });
    } finally {
      await t.stop();
    }
  },
);
