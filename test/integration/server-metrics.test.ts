import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MailboxClient, MailboxError } from '../../src/client/index.ts';
import { GOLDEN_METRICS } from '../../src/observability/metrics.ts';
import { eventually, sampleLines, seriesValue, startTestServer } from './helpers/server.ts';

/** The sample lines a metric family must have: a histogram is scraped as its `_bucket` series. */
const HISTOGRAMS = new Set<string>(['request_latency_seconds']);
const sampleName = (name: string): string => (HISTOGRAMS.has(name) ? `${name}_bucket` : name);

test(
  'GET /metrics carries a sample of every golden metric after sends, acks, a nack, an expiry, a DLQ write and a rejected request',
  { timeout: 30_000 },
  async () => {
    const t = await startTestServer({ config: { queue: { maxAttempts: 2, backoffBaseMs: 10, backoffMaxMs: 50 } } });
    try {
      const client = await t.client();
      const topic = 'metrics:jobs';
      // Sends and acks.
      await client.sendBatch([1, 2, 3].map((i) => ({ topic, idemKey: `m${i}`, payload: `m${i}` })));
      for (const d of await client.recv({ topic, maxMessages: 3, waitMs: 5_000 })) await d.ack();
      // An expiry, then a NACK that dead-letters (attempt 2 of maxAttempts 2).
      await client.send({ topic, idemKey: 'poison', payload: 'poison' });
      const [first] = await client.recv({ topic, maxMessages: 1, visibilityMs: 100, waitMs: 5_000 });
      assert.equal(first?.attempt, 1);
      const [second] = await client.recv({ topic, maxMessages: 1, waitMs: 15_000 });
      assert.equal(second?.attempt, 2, 'redelivered after the lease expired');
      await second!.nack({ delayMs: 0, reason: 'give up' });
      await eventually('the DLQ write', async () => (await client.dlq.list({ topic })).length === 1, 10_000);
      // A rejected request.
      const outsider = await MailboxClient.connect(t.server.url, { token: t.token([{ kind: 'topic', pattern: 'other:*' }]), reconnect: false });
      await assert.rejects(outsider.send({ topic, idemKey: 'x', payload: 'x' }), (e: unknown) => e instanceof MailboxError && e.code === 'E_CAP_SCOPE');
      await outsider.close();

      const text = await t.metrics();
      // The traffic above shows up where it should.
      assert.ok((seriesValue(text, 'requests_total{route="ws",method="SEND_BATCH",code="200"}') ?? 0) >= 1);
      assert.ok((seriesValue(text, 'rejected_total{reason="auth"}') ?? 0) >= 1);
      assert.ok((seriesValue(text, 'visibility_timeouts_total{queue="metrics"}') ?? 0) >= 1);
      assert.ok((seriesValue(text, 'requeued_total{queue="metrics",reason="visibility"}') ?? 0) >= 1);
      assert.ok((seriesValue(text, 'dlq_writes_total{queue="metrics"}') ?? 0) >= 1);
      assert.equal(seriesValue(text, 'inflight_requests{route="ws"}'), 0);

      const missing = GOLDEN_METRICS.filter((name) => sampleLines(text, sampleName(name)).length === 0);
      assert.deepEqual(missing, [], `golden metrics with no sample line: ${missing.join(', ')}`);
    } finally {
      await t.stop();
    }
  },
);

// Counters labelled by topic class (queue) get their first series with their first message:
// before that no class exists, and a placeholder series would be a lie.
const PER_QUEUE = new Set(['requeued_total', 'visibility_timeouts_total', 'dlq_writes_total']);

test('the first scrape of a fresh server declares every golden metric and samples every series known up front', { timeout: 20_000 }, async () => {
  const t = await startTestServer();
  try {
    const text = await t.metrics();
    const undeclared = GOLDEN_METRICS.filter((name) => !text.includes(`# TYPE ${name.replace(/_bucket$/, '')} `));
    assert.deepEqual(undeclared, [], `golden metrics not declared in the first scrape: ${undeclared.join(', ')}`);
    const missing = GOLDEN_METRICS.filter((name) => !PER_QUEUE.has(name) && sampleLines(text, sampleName(name)).length === 0);
    assert.deepEqual(missing, [], `golden metrics with no sample line in the first scrape: ${missing.join(', ')}`);
  } finally {
    await t.stop();
  }
});
