import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { alertRules, bucketQuantile, evaluate, parseScrape, type Scrape } from './helpers/promql.ts';
import { seriesValue, startTestServer, type TestServer } from './helpers/server.ts';

const RULES = alertRules(readFileSync(join(import.meta.dirname, '../../ops/alerts.yaml'), 'utf8'));
const TARGET = { instance: '127.0.0.1:9600', job: 'svc-mailbox' };

async function scrape(t: TestServer): Promise<Scrape> {
  const s = parseScrape(await t.metrics(), performance.now() / 1000, TARGET);
  s.series.set('up', [{ labels: { ...TARGET }, value: 1 }]); // the scrape succeeded
  return s;
}

/** Every alert whose expression yields a sample between the two scrapes, with what it yielded. */
function firing(a: Scrape, b: Scrape): string[] {
  const out: string[] = [];
  for (const { alert, expr } of RULES) {
    const v = evaluate(expr, a, b);
    if (v.kind === 'vector' ? v.samples.length > 0 : v.value !== 0) out.push(`${alert}: ${JSON.stringify(v)}`);
  }
  return out;
}

test('the evaluator reads every alert rule and fires on what they are about', async () => {
  assert.ok(RULES.length >= 10);
  const a = parseScrape('requests_total{route="ws",method="SEND",code="200"} 0\nrequests_total{route="ws",method="SEND",code="503"} 0\n', 0, TARGET);
  const b = parseScrape('requests_total{route="ws",method="SEND",code="200"} 10\nrequests_total{route="ws",method="SEND",code="503"} 10\n', 10, TARGET);
  assert.deepEqual(firing(a, b).map((f) => f.split(':')[0]), ['MailboxHighErrorRatio']);
  assert.equal(bucketQuantile(0.5, [[0.1, 0], [1, 10], [Infinity, 10]]), 0.55);
});

test(
  'no alert in ops/alerts.yaml fires for an idle server, nor for one whose consumer long-polls an empty topic',
  { timeout: 60_000 },
  async () => {
    const t = await startTestServer();
    try {
      const client = await t.client();
      await client.send({ topic: 'alerts:warm', idemKey: 'w', payload: 'w' });
      const first = await scrape(t);
      // Idle: nothing happens between the scrapes but the scrapes themselves.
      await t.get('/healthz');
      const idle = await scrape(t);
      assert.deepEqual(firing(first, idle), [], 'an idle server fires no alert');

      // Long polls that wait out their waitMs, and one that gets a message after waiting.
      const topic = 'alerts:idle';
      const polls = 6;
      for (let i = 0; i < polls; i++) assert.deepEqual(await client.recv({ topic, maxMessages: 1, waitMs: 300 }), []);
      const waiting = client.recv({ topic, maxMessages: 1, waitMs: 10_000 });
      const sender = await t.client({ clientName: 'late-producer' });
      await sender.send({ topic, idemKey: 'late', payload: 'late' });
      const [late] = await waiting;
      assert.ok(late, 'the waiting RECV got the message');
      await late.ack();
      const polled = await scrape(t);

      const text = await t.metrics();
      const recvCount = seriesValue(text, 'request_latency_seconds_count{route="ws",method="RECV"}') ?? 0;
      assert.ok(recvCount >= polls + 1, `every RECV is still in request_latency_seconds (${recvCount})`);
      const waited = seriesValue(text, 'recv_wait_seconds_count') ?? 0;
      assert.ok(waited >= polls, `the long-poll waits are in recv_wait_seconds (${waited})`);
      assert.ok((seriesValue(text, 'recv_wait_seconds_sum') ?? 0) >= polls * 0.3 - 0.05, 'recv_wait_seconds measures the waits');
      assert.deepEqual(firing(idle, polled), [], 'long-polling consumers fire no alert');
    } finally {
      await t.stop();
    }
  },
);
