import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench } from './run-bench.ts';

test('mailbox bench --quick runs workload A against a real server and every id arrives', { timeout: 60_000 }, async (t) => {
  const { report, stdout } = await runBench(['--quick', '--count', '2000', '--runs', '1', '--workload', 'A', '--store', 'amnesia', '--timeout', '40'], t.signal);
  const a = report.results.filter((r) => r.system === 'svc-mailbox' && r.workload === 'A');
  assert.equal(a.length, 1);
  assert.equal(a[0]!.error, undefined);
  assert.equal(a[0]!.unique, 2000);
  assert.equal(a[0]!.missing, 0);
  assert.match(stdout, /svc-mailbox \| amnesia \| 1\/0 \|/);
  // GC pauses of both sides during the timed part: the server's read from its /metrics.
  const gc = a[0]!.gc;
  assert.ok(gc?.server, 'the server\'s GC figures were read');
  for (const side of [gc.server, gc.client]) {
    assert.ok(Number.isInteger(side.pauses) && side.pauses >= 0);
    assert.ok(side.over10ms <= side.over1ms && side.over1ms <= side.pauses);
  }
  assert.match(stdout, /## Garbage collection during the timed part/);
  assert.match(stdout, /\| svc-mailbox \| amnesia \| A \| \d+ \| /);
});
