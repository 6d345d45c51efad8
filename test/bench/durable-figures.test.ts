import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench } from './run-bench.ts';

const QUEUED = 2_000;
const RESTART = 2_000;

function assertPositive(value: unknown, what: string): void {
  assert.equal(typeof value, 'number', `${what} is a number`);
  assert.ok(Number.isFinite(value) && (value as number) > 0, `${what} is finite and positive, got ${String(value)}`);
}

// Structure only: the numbers of a tiny run on a shared machine say nothing about the store.
// The bench bounds each of its own steps (--timeout 30 a run, 30 s for each of its four server
// starts to reach /readyz) and says which one overran; the test's timeout only guards against
// a hang, so it is above their sum: under two suites at once the starts alone took over 60 s.
test('mailbox bench --figures durable reports throughput, RSS per queued message and restart time in the JSON and the table', { timeout: 300_000 }, async (t) => {
  const { report, stdout } = await runBench([
    '--figures', 'durable', '--figures-messages', String(QUEUED), '--figures-restart-messages', String(RESTART),
    '--count', '1000', '--runs', '1', '--timeout', '30', '--server-env', 'MAILBOX_QUEUE__READY_WINDOW=512',
  ], t.signal);

  assert.deepEqual(report.options.stores, ['level+sync'], 'the figures default to the durable store');
  assert.deepEqual(report.options.workloads, ['A']);
  const a = report.results.filter((r) => r.system === 'svc-mailbox' && r.variant === 'level+sync' && r.workload === 'A');
  assert.equal(a.length, 1);
  assertPositive(a[0]!.msgsPerSec, 'workload A msgs/s');

  const f = report.durableFigures;
  assert.ok(f, 'durableFigures is in the results file');
  // --server-env reaches the figures' own servers too, on top of their raised shard bound.
  assert.deepEqual(f.serverEnv, { MAILBOX_QUEUE__SHARD_CAPACITY: '100000000', MAILBOX_QUEUE__READY_WINDOW: '512' });
  assert.equal(f.rss.error, undefined);
  assert.equal(f.restart.error, undefined);
  assert.deepEqual(f.rss.points.map((p) => p.messages), [0, QUEUED / 4, QUEUED / 2, (3 * QUEUED) / 4, QUEUED]);
  assert.ok(f.rss.beforeWarmUp, 'the fresh server is sampled before the warm-up');
  for (const p of [f.rss.beforeWarmUp, ...f.rss.points]) {
    assertPositive(p.rssMiB, `RSS at ${p.messages}`);
    assertPositive(p.heapUsedMiB, `heap at ${p.messages}`);
    assertPositive(p.heapTotalMiB, `heapTotal at ${p.messages}`);
    assertPositive(p.arrayBuffersMiB, `arrayBuffers at ${p.messages}`);
  }
  // The slope of 2,000 messages may be anything, RSS noise included; it must be a number.
  assert.ok(Number.isFinite(f.rss.bytesPerMessage), 'bytesPerMessage is finite');
  assert.ok(Number.isFinite(f.rss.projectedMiBAt5M), 'projectedMiBAt5M is finite');
  assertPositive(f.rss.fillPerSec, 'fill msgs/s');
  assert.equal(f.restart.emptyReadyMs.length, 3);
  for (const ms of f.restart.emptyReadyMs) assertPositive(ms, 'empty-store ready ms');
  assertPositive(f.restart.readyMs, 'ready ms with messages on disk');
  assert.equal(f.restart.readyAfter, RESTART, 'every message is back after kill -9');
  assertPositive(f.restart.rssAfterMiB, 'RSS after rebuild');

  assert.match(stdout, /## Durable store figures/);
  assert.match(stdout, /\| server settings \| MAILBOX_QUEUE__SHARD_CAPACITY=100000000 MAILBOX_QUEUE__READY_WINDOW=512 \|/);
  assert.match(stdout, /\| RSS per queued message \| -?[\d,]+ B \|/);
  assert.match(stdout, new RegExp(`\\| spawn → /readyz 200 after kill -9, ${RESTART.toLocaleString('en-US')} on disk \\| [\\d.]+ ms \\|`));
});
