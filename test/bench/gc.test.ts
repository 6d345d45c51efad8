import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GcMeter, gcDelta, parseGcHistogram, watchGc } from '../../bench/gc.ts';
import { gcTable } from '../../bench/summary.ts';
import type { BenchReport, RunResult } from '../../bench/types.ts';

/** One kind's histogram as prom-client's default metrics print it (cumulative buckets). */
function histogram(kind: string, buckets: Record<string, number>, sum: number, count: number): string {
  const lines = Object.entries(buckets).map(([le, n]) => `nodejs_gc_duration_seconds_bucket{le="${le}",kind="${kind}"} ${n}`);
  lines.push(`nodejs_gc_duration_seconds_bucket{le="+Inf",kind="${kind}"} ${count}`);
  lines.push(`nodejs_gc_duration_seconds_sum{kind="${kind}"} ${sum}`, `nodejs_gc_duration_seconds_count{kind="${kind}"} ${count}`);
  return lines.join('\n');
}

const METRICS = [
  '# HELP nodejs_gc_duration_seconds Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
  '# TYPE nodejs_gc_duration_seconds histogram',
  histogram('minor', { '0.001': 10, '0.01': 38, '0.1': 40 }, 0.125, 40),
  histogram('major', { '0.001': 0, '0.01': 1, '0.1': 3 }, 0.05, 3),
  '# HELP nodejs_eventloop_lag_seconds Lag of event loop in seconds.',
  'nodejs_eventloop_lag_seconds 0.002',
].join('\n');

test('parseGcHistogram sums every kind: pauses, total ms, and the pauses past 1 ms and 10 ms from the bucket bounds', () => {
  assert.deepEqual(parseGcHistogram(METRICS), { pauses: 43, ms: 175, over1ms: 33, over10ms: 4 });
});

test('parseGcHistogram reads no histogram as no pauses, and gcDelta is the difference of two readings', () => {
  assert.deepEqual(parseGcHistogram('nodejs_eventloop_lag_seconds 0.002\n'), { pauses: 0, ms: 0, over1ms: 0, over10ms: 0 });
  const before = { pauses: 40, ms: 100.5, over1ms: 20, over10ms: 1 };
  assert.deepEqual(gcDelta(before, parseGcHistogram(METRICS)), { pauses: 3, ms: 74.5, over1ms: 13, over10ms: 3 });
});

/** Far more short-lived garbage than a young generation holds: scavenges must run. */
async function churn(): Promise<void> {
  let keep: number[][] = [];
  for (let i = 0; i < 200_000; i++) {
    keep.push(new Array(64).fill(i));
    if (keep.length > 100) keep = [];
  }
  await new Promise((r) => setImmediate(r));
}

test('GcMeter counts the pauses of this process while it runs, not after stop()', async () => {
  const meter = new GcMeter().start();
  await churn();
  const seen = meter.stop();
  assert.ok(seen.pauses >= 1, `a GC pause is seen (got ${seen.pauses})`);
  assert.ok(seen.ms > 0);
  assert.ok(seen.over10ms <= seen.over1ms && seen.over1ms <= seen.pauses);
  await churn();
  assert.deepEqual(meter.stop(), seen, 'a stopped meter counts nothing more');
});

test('watchGc gives the server\'s pauses between its two readings, and leaves the server out when it does not answer', async () => {
  const readings = [{ pauses: 5, ms: 10, over1ms: 2, over10ms: 0 }, { pauses: 9, ms: 30, over1ms: 5, over10ms: 1 }];
  const watch = await watchGc(async () => readings.shift()!);
  const both = await watch.stop();
  assert.deepEqual(both.server, { pauses: 4, ms: 20, over1ms: 3, over10ms: 1 });
  assert.equal(typeof both.client.pauses, 'number');
  const down = await watchGc(() => Promise.reject(new Error('connection refused')));
  assert.equal((await down.stop()).server, undefined);
});

/** A svc-mailbox run with `server` and `client` GC pauses (4 and 2 ms each); run k had k − 1 pauses over 10 ms. */
const run = (workload: RunResult['workload'], k: number, server: number, client: number, seconds?: number): RunResult => ({
  system: 'svc-mailbox', variant: 'amnesia', workload, run: k, n: 1000, size: 1024, ...(seconds ? { seconds } : {}),
  gc: { server: { pauses: server, ms: server * 4, over1ms: server, over10ms: k - 1 }, client: { pauses: client, ms: client * 2, over1ms: 0, over10ms: 0 } },
});

test('gcTable prints the median per workload with the server\'s share of the run, and nothing without GC figures', () => {
  const report = (results: RunResult[]): BenchReport => ({
    at: '', node: process.version, host: { cpus: 2, model: 'test', kernel: 'test' }, options: {} as BenchReport['options'], results,
  });
  const lines = gcTable(report([run('A', 1, 10, 20, 2), run('A', 2, 30, 40, 2), run('A', 3, 20, 30, 2), run('B', 1, 50, 60, 12), run('fanout', 1, 7, 8)]));
  assert.equal(lines.length, 5, 'a header, a rule, and A, B and fan-out');
  // A: medians 20 pauses, 80 ms of a 2 s run = 4.0%, 1 pause over 10 ms; client 30 pauses, 60 ms.
  assert.equal(lines[2], '| svc-mailbox | amnesia | A | 20 (10–30) | 80 (40–120) | 4.0% (2.0%–6.0%) | 1 (0–2) | 30 (20–40) | 60 (40–80) | 0 (0–0) |');
  assert.equal(lines[3], '| svc-mailbox | amnesia | B | 50 | 200 | 1.7% | 0 | 60 | 120 | 0 |');
  assert.equal(lines[4], '| svc-mailbox | amnesia | fan-out | 7 | 28 | – | 0 | 8 | 16 | 0 |', 'fan-out has no run time to share');
  const bare: RunResult = { system: 'redis-streams', variant: 'no-persistence+xdel', workload: 'A', run: 1, n: 1000, size: 1024 };
  assert.deepEqual(gcTable(report([bare])), []);
});

test('the HTML report shows the GC table in its own section, and leaves it out when no run has GC figures', async () => {
  const { renderReport } = await import('../../bench/report.ts');
  const options = { runs: 1, count: 1000, payload: 1024, window: 1000, prefetch: 1000, producers: 1, consumers: 1, topics: 1, rate: 2000, seconds: 10, fanoutTopics: 10_000, fanoutReps: 20, fanoutPayload: 64 } as BenchReport['options'];
  const base = { at: '', node: process.version, host: { cpus: 2, model: 'test', kernel: 'test' }, options };
  const html = renderReport({ ...base, results: [run('B', 1, 50, 60, 12)] });
  assert.match(html, /<h2>Garbage collection<\/h2>/);
  assert.match(html, /<td>1\.7%<\/td>/, 'the server\'s share of the run');
  const { gc: _, ...bare } = run('B', 1, 50, 60, 12);
  assert.doesNotMatch(renderReport({ ...base, results: [bare] }), /Garbage collection/);
});
