/**
 * The latency drill, short: a real server process gets 250 ms more per store commit for 4 s,
 * then 150 ms more per WebSocket write for 3 s, under SDK producers and consumers; the
 * promise asserted in detail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LATENCY, LATENCY_DLQ_BOUND, LATENCY_REQUEUE_BOUND, latencyKept, runLatency, type LatencyOptions, type LatencyReport } from '../../chaos/latency.drill.ts';

const o: LatencyOptions = { ...DEFAULT_LATENCY, storeMs: 4_500, socketMs: 3_000 };
let run: Promise<LatencyReport> | undefined;
const report = (): Promise<LatencyReport> => (run ??= runLatency(o));

test('slow store commits, then slow socket writes: nothing lost, requeues and DLQ bounded, ready again after each, the latency alert named', { timeout: 90_000 }, async (t) => {
  const r = await report();
  t.diagnostic(JSON.stringify(r));
  const why = r.samples.join('; ');
  assert.ok(r.settled, 'the server ended with no ready, delayed or leased message');
  assert.ok(r.accepted > 0);
  assert.equal(r.lost, 0, `accepted messages neither ACKed nor dead-lettered: ${why}`);
  assert.equal(r.orphans, 0, why);
  assert.equal(r.afterAck, 0, why);
  assert.deepEqual(r.fatal, [], 'no SEND refused with a non-retryable error');
  assert.equal(r.acked + r.dlq, r.accepted);
  assert.ok(r.dlq <= r.accepted * LATENCY_DLQ_BOUND, `${r.dlq} dead-lettered of ${r.accepted}`);
  assert.ok(r.requeued <= r.deliveries * LATENCY_REQUEUE_BOUND, `${r.requeued} requeued of ${r.deliveries} deliveries`);
  assert.ok(r.storeReadyAfterMs !== undefined, 'ready after the store latency');
  assert.ok(r.socketReadyAfterMs !== undefined, 'ready after the socket latency');
  // A lower bound only: every admitted request under the socket fault waited for its held reply.
  assert.ok(r.socketP95 >= o.socketDelayMs, `socket-phase p95 ${r.socketP95} ms, delay ${o.socketDelayMs} ms`);
  assert.ok(r.alerts.includes('MailboxHighLatencyP99'), r.alerts.join(','));
});

test('store commit latency past overloadCommitMs sheds SENDs early (degraded within 5 s, rejected as degraded)', {
  timeout: 90_000,
}, async (t) => {
  const r = await report();
  t.diagnostic(`shedAfterMs=${r.shedAfterMs} reason=${r.shedReason} rejectedDegraded=${r.rejectedDegraded}`);
  assert.ok(r.shedAfterMs !== undefined && r.shedAfterMs <= o.shedWithinMs, `degraded after ${r.shedAfterMs} ms`);
  assert.match(r.shedReason, /store commit latency p99 \d+ ms > 100 ms/);
  assert.ok(r.rejectedDegraded > 0);
  assert.ok(latencyKept(r, o));
});
