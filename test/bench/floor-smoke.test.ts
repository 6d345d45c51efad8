import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floorRun } from '../../bench/floor/run.ts';

// The floor harness is a yardstick for the bench's figures: keep it moving every message, on both stores.
for (const store of ['amnesia', 'level+sync'] as const) {
  test(`bench/floor moves workload A end to end (${store}): every id arrives`, { timeout: 30_000 }, async () => {
    const r = await floorRun(store, 1, 2000, 1024, 200);
    assert.equal(r.system, 'floor');
    assert.equal(r.variant, store);
    assert.equal(r.unique, 2000);
    assert.deepEqual(r.serverAfter, { messages: 0 }, 'every message acked and deleted');
    assert.equal(r.missing, 0);
    assert.ok((r.msgsPerSec ?? 0) > 0);
    assert.ok(r.cpu?.serverCpuS !== undefined, 'server CPU is read from /proc');
  });
}
