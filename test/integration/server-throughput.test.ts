import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MailboxError } from '../../src/client/index.ts';
import { eventually, startTestServer } from './helpers/server.ts';

const TOTAL = 10_000;
const TOPICS = ['bulk:a', 'bulk:b', 'bulk:c', 'bulk:d'];

test(
  '10,000 messages sent with SEND_BATCH and consumed with SUBSCRIBE are all received once and acked, and every server depth ends at 0',
  { timeout: 45_000 },
  async () => {
    const t = await startTestServer();
    try {
      const errors: MailboxError[] = [];
      const producer = await t.client({ onError: (e) => errors.push(e), clientName: 'producer' });
      const consumer = await t.client({ onError: (e) => errors.push(e), clientName: 'consumer' });

      const received = new Map<string, number>();
      const ackFailures: unknown[] = [];
      let acked = 0;
      const subs = TOPICS.map((topic) =>
        consumer.subscribe({ topic, prefetch: 500, visibilityMs: 120_000, concurrency: 64 }, async (d) => {
          received.set(d.msgId, (received.get(d.msgId) ?? 0) + 1);
          assert.equal(d.attempt, 1);
          await d.ack().then(() => acked++, (err: unknown) => ackFailures.push(err));
        }),
      );
      await Promise.all(subs.map((s) => s.ready));

      const inputs = Array.from({ length: TOTAL }, (_, i) => ({
        topic: TOPICS[i % TOPICS.length]!,
        idemKey: `m-${i}`,
        payload: `message ${i} ${'x'.repeat(i % 64)}`,
      }));
      const results = await producer.sendBatch(inputs);
      const sent = results.map((r, i) => {
        assert.ok(!(r instanceof MailboxError), `send ${i} failed: ${String(r)}`);
        return r.msgId;
      });
      assert.equal(new Set(sent).size, TOTAL, 'every message has its own msgId');
      const stats = producer.stats();
      assert.ok(stats.sendBatches >= TOTAL / 1000, `sends travelled as SEND_BATCH frames (${stats.sendBatches} batches)`);
      assert.ok(stats.framesSent < TOTAL / 10, `far fewer frames than messages (${stats.framesSent})`);

      await eventually(`${TOTAL} deliveries acked (received ${received.size}, acked ${acked})`, () => acked + ackFailures.length >= TOTAL, 35_000, 50);
      assert.deepEqual(ackFailures, []);
      const missing = sent.filter((id) => !received.has(id));
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} messages never arrived`);
      const twice = [...received].filter(([, n]) => n > 1);
      assert.deepEqual(twice.slice(0, 10), [], `${twice.length} messages arrived more than once`);
      assert.equal(received.size, TOTAL);
      assert.ok(consumer.stats().ackBatches > 0, 'acks were coalesced into ACK_BATCH');

      await eventually('server depths at 0', async () => {
        const d = await t.depths();
        return d.ready + d.delayed + d.leased + d.dlq === 0;
      }, 10_000);
      assert.deepEqual(errors, []);
      await Promise.all(subs.map((s) => s.close()));
    } finally {
      await t.stop();
    }
  },
);
