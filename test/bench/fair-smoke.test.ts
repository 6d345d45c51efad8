import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderReport } from '../../bench/report.ts';
import { runBench } from './run-bench.ts';

test('mailbox bench --workload fair measures the calm tenant without and with a hot tenant refused by its quota', { timeout: 40_000 }, async (t) => {
  const { report, stdout } = await runBench(['--quick', '--seconds', '1', '--workload', 'fair', '--store', 'amnesia', '--runs', '1', '--timeout', '20'], t.signal);
  const pairs = report.results.filter((r) => r.workload === 'fair');
  assert.equal(pairs.length, 1);
  const [pair] = pairs;
  assert.equal(pair!.error, undefined);
  assert.equal(pair!.missing, 0);
  const f = pair!.fair!;
  assert.notEqual(f.calmTenant, f.hotTenant);
  for (const half of [f.without, f.with]) {
    assert.equal(half.latencyMs?.n, 2000, 'each half is workload B: 2,000 msg/s for 1 s');
    assert.ok(half.cpu?.serverCpuS !== undefined, 'the server\'s CPU is read for each half');
  }
  assert.equal(f.without.hot, undefined);
  const hot = f.with.hot!;
  assert.ok(hot.refused > 0 && hot.refusedPerSec > 0, 'the hot tenant is refused by its quota');
  assert.equal(hot.otherErrors, 0);
  assert.ok(hot.admitted > 0 && hot.received === hot.admitted, 'what got in was delivered');
  // The quota holds: at most its rate plus the 1 s burst over the time it produced.
  // The rate over the time SENDs were answered (a held-off connection's frames are admitted after the producer stopped), plus the 1 s burst.
  assert.ok(hot.admitted <= hot.quotaPerSecond * (hot.answeredSeconds + 1) + 50, `${hot.admitted} admitted in ${hot.answeredSeconds} s of answers`);
  assert.equal(f.p99Ratio, Math.round((f.with.latencyMs!.p99 / f.without.latencyMs!.p99) * 1000) / 1000);
  assert.match(stdout, /## Fairness/);
  assert.match(stdout, /\| amnesia \| 1 \| [\d.]+ \/ [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+× \| (met|NOT met) \| 10,000 \| /);
  assert.match(stdout, /\| fair: calm tenant's B p99 with \/ without a tenant at 10× its quota, amnesia \|/);
  // The HTML report shows the workload too.
  assert.match(renderReport(report), /<h2>Fairness<\/h2>/);
});
