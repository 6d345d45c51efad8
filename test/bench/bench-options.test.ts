import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchOptions } from '../../src/cli/bench.ts';

test('--workload fair is asked for by name: all stays A, B and fan-out, a list adds it', () => {
  assert.deepEqual(benchOptions([])?.workloads, ['A', 'B', 'fanout']);
  assert.deepEqual(benchOptions(['--workload', 'fair'])?.workloads, ['fair']);
  assert.deepEqual(benchOptions(['--workload', 'all,fair'])?.workloads, ['A', 'B', 'fanout', 'fair']);
});

test('workload fair defaults to a hot tenant quota of 1,000/s tried ten times over', () => {
  const o = benchOptions(['--workload', 'fair'])!;
  assert.equal(o.fairQuota, 1000);
  assert.equal(o.fairFactor, 10);
  const p = benchOptions(['--workload', 'fair', '--fair-quota', '500', '--fair-factor', '4'])!;
  assert.equal(p.fairQuota, 500);
  assert.equal(p.fairFactor, 4);
  assert.throws(() => benchOptions(['--fair-quota', '0']), /--fair-quota must be a positive number/);
  assert.throws(() => benchOptions(['--workload', 'unfair']), /is not A, B, fanout, fair, both or all/);
});
