import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floorRun } from '../../bench/floor/run.ts';

// The floor harness is a yardstick for the bench's figures: keep it moving every message, on both stores.
for (const store of ['amnesia', 'level+sync'] as const) {
  test(`bench/floor moves workload A end to end (${store}): every id arrives`, { timeout: 30_000 }, async () => {
    const r = await floorRun(store, 2000, 1024, 200);
    assert.equal(r.store, store);
    assert.equal(r.missing, 0);
    assert.ok(r.msgsPerSec > 0);
    assert.ok(r.serverCpuUsPerMsg !== undefined, 'server CPU is read from /proc');
  });
}
