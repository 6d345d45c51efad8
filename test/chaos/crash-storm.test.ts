/**
 * The crash-storm drill, short: four consumer processes (SDK clients) share the topics of a real
 * server process; two are killed with SIGKILL mid-load; the promise asserted in detail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crashStormKept, runCrashStorm, type CrashStormOptions } from '../../chaos/crash-storm.drill.ts';

test('half of the consumer processes SIGKILLed mid-load: requeued_total rises but stays under 5% of deliveries, visibility_timeouts_total stops growing, the survivors drain everything, nothing lost', { timeout: 120_000 }, async (t) => {
  // At most prefetch × topics leases per killed process (8 × 8 × 2 = 128) can be requeued: under 5% of 4,000 by construction.
  // Leases of 10 s: on a loaded machine a survivor can stall for a second, and a lease that expired
  // under it would be a requeue the kill did not cause.
  const o: CrashStormOptions = {
    consumers: 4, messages: 4_000, topics: 8, prefetch: 8, visibilityMs: 10_000, killAt: 0.3, maxAttempts: 10, settleTimeoutMs: 60_000,
    quietMs: 1_500, log: (l) => t.diagnostic(l),
  };
  const r = await runCrashStorm(o);
  t.diagnostic(JSON.stringify({ ...r, samples: undefined }));
  const why = r.samples.join('; ');
  assert.ok(r.settled, 'the server ended with no ready, delayed or leased message');
  assert.equal(r.killed, 2);
  assert.equal(r.accepted, o.messages, 'every SEND was acknowledged');
  assert.equal(r.lost, 0, `acknowledged SENDs neither ACKed nor dead-lettered: ${why}`);
  assert.equal(r.orphans, 0, `deliveries of msgIds no SEND was answered with: ${why}`);
  assert.equal(r.afterAck, 0, `deliveries after a successful ACK: ${why}`);
  assert.equal(r.acked + r.ackUnconfirmed + r.dlq, r.accepted, 'ACKed and dead-lettered add up to what was acknowledged');
  assert.ok(r.ackedBySurvivors > 0, 'the survivors went on ACKing after the kill');
  assert.ok(r.requeued > 0, 'requeued_total rose: the killed processes held leases');
  assert.ok(r.requeuedShare < 0.05, `requeued ${r.requeued} of ${r.deliveries} deliveries`);
  assert.equal(r.visibilityAfterDrain, 0, 'visibility_timeouts_total did not grow after the drain');
  assert.ok(crashStormKept(r, o.messages));
});
