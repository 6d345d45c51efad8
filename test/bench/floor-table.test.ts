import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floorTable } from '../../bench/summary.ts';
import type { BenchReport, RunResult } from '../../bench/types.ts';

const a = (system: string, variant: string, run: number, msgsPerSec: number, clientCpuS: number, serverCpuS: number): RunResult => ({
  system, variant, workload: 'A', run, n: 100_000, size: 1024, msgsPerSec, cpu: { clientCpuS, serverCpuS }, missing: 0,
});

const report = (results: RunResult[]): BenchReport => ({
  at: '', node: process.version, host: { cpus: 2, model: 'test', kernel: 'test' }, options: {} as BenchReport['options'], results,
});

test('floorTable sets svc-mailbox beside the floor of the same run: medians, share of the floor, CPU per message', () => {
  const lines = floorTable(report([
    a('svc-mailbox', 'amnesia', 1, 40_000, 1.7, 2.5), a('svc-mailbox', 'amnesia', 2, 38_000, 1.8, 2.7), a('svc-mailbox', 'amnesia', 3, 36_000, 1.6, 2.6),
    a('floor', 'amnesia', 1, 200_000, 0.4, 0.5), a('floor', 'amnesia', 2, 190_000, 0.5, 0.6), a('floor', 'amnesia', 3, 210_000, 0.4, 0.5),
    a('redis-streams', 'no-persistence+xdel', 1, 55_000, 1.5, 0.5),
  ]));
  assert.equal(lines.length, 3, 'a header, a rule and the one store both ran');
  // 38,000 of 200,000 (the medians) is 19%; 17 / 26 µs against 4 / 5 µs per message.
  assert.equal(lines[2], '| amnesia | 38,000 (36,000–40,000) | 200,000 (190,000–210,000) | 19% | 17.0 / 26.0 | 4.0 / 5.0 |');
});

test('floorTable is empty without a floor run, and shows – for a store svc-mailbox did not run', () => {
  assert.deepEqual(floorTable(report([a('svc-mailbox', 'amnesia', 1, 40_000, 1.7, 2.5)])), []);
  const lines = floorTable(report([a('floor', 'level+sync', 1, 95_000, 0.4, 1.3)]));
  assert.equal(lines[2], '| level+sync | – | 95,000 | – | – | 4.0 / 13.0 |');
});

test('the HTML report shows the floor in its own section and its own colour, and leaves both out without a floor run', async () => {
  const { renderReport } = await import('../../bench/report.ts');
  const options = { runs: 1, count: 100_000, payload: 1024, window: 1000, prefetch: 1000, producers: 1, consumers: 1, topics: 1, rate: 2000, seconds: 10, fanoutTopics: 10_000, fanoutReps: 20, fanoutPayload: 64 } as BenchReport['options'];
  const withFloor = renderReport({ ...report([a('svc-mailbox', 'amnesia', 1, 40_000, 1.7, 2.5), a('floor', 'amnesia', 1, 200_000, 0.4, 0.5)]), options });
  assert.match(withFloor, /<h2>Against the floor<\/h2>/);
  assert.match(withFloor, /<td>20%<\/td>/);
  assert.match(withFloor, /fill="#d1d5db"/, 'the floor bar is not coloured as a peer');
  const without = renderReport({ ...report([a('svc-mailbox', 'amnesia', 1, 40_000, 1.7, 2.5)]), options });
  assert.doesNotMatch(without, /Against the floor/);
});
