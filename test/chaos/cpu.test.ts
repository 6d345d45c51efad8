/**
 * The cpu drill, short: a real server process burns 60% of a core (the cpu fault over the admin
 * port) for 6 s under SDK producers and consumers; the promise asserted in detail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CPU, cpuKept, runCpu, type CpuOptions } from '../../chaos/cpu.drill.ts';

test('a server burning 60% of a core goes degraded within 5 s, sheds SENDs as degraded, is ready again after the burn, loses nothing', { timeout: 90_000 }, async (t) => {
  const o: CpuOptions = { ...DEFAULT_CPU, baselineMs: 2_500, burnMs: 6_000, log: (l) => t.diagnostic(l) };
  const r = await runCpu(o);
  t.diagnostic(JSON.stringify(r));
  const why = r.samples.join('; ');
  assert.ok(r.degradedAfterMs !== undefined, `/readyz never said degraded during the burn (${r.degradedReason})`);
  assert.ok(r.degradedAfterMs <= o.degradeWithinMs, `degraded only after ${Math.round(r.degradedAfterMs)} ms`);
  assert.match(r.degradedReason, /overload: event-loop delay/);
  assert.ok(r.rejectedDegraded > 0, 'rejected_total{reason="degraded"} rose');
  assert.ok(r.baselineSamples > 0 && r.faultSamples > 0, 'admitted requests were timed in both phases');
  // The p95 bound is the drill's (npm run chaos, on a quiet machine): beside other test files on
  // 2 shared cores it is noise, so here it is reported, not asserted.
  t.diagnostic(`admitted p95 ${Math.round(r.faultP95)} ms under the burn, bound ${Math.round(r.boundP95)} ms (baseline ${Math.round(r.baselineP95)} ms)`);
  assert.ok(r.readyAfterMs !== undefined, 'ready again after the burn');
  assert.ok(r.settled, 'the server ended with no ready, delayed or leased message');
  assert.ok(r.accepted > 0);
  assert.equal(r.lost, 0, `accepted messages neither ACKed nor dead-lettered: ${why}`);
  assert.equal(r.orphans, 0, why);
  assert.equal(r.afterAck, 0, why);
  assert.deepEqual(r.fatal, [], 'no SEND refused with a non-retryable error');
  assert.equal(r.acked + r.dlq, r.accepted);
  assert.ok(cpuKept({ ...r, faultP95: Math.min(r.faultP95, r.boundP95) }, o), 'kept, the p95 bound aside');
});
