import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench } from './run-bench.ts';

test('mailbox bench --quick runs workload A against a real server and every id arrives', { timeout: 60_000 }, async () => {
  const { report, stdout } = await runBench(['--quick', '--count', '2000', '--runs', '1', '--workload', 'A', '--store', 'amnesia', '--timeout', '40']);
  const a = report.results.filter((r) => r.system === 'svc-mailbox' && r.workload === 'A');
  assert.equal(a.length, 1);
  assert.equal(a[0]!.error, undefined);
  assert.equal(a[0]!.unique, 2000);
  assert.equal(a[0]!.missing, 0);
  assert.match(stdout, /svc-mailbox \| amnesia \| 1\/0 \|/);
});
