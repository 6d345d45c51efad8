/** The drill runner's argv: one strict parser (node:util parseArgs), usage errors exit 2, --help starts nothing. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { DRILLS, UsageError, parseRunArgs } from '../../chaos/run.ts';

test('the runner takes drill names and --duration=ms --messages=n --seed=n --paged --out=DIR --verbose', () => {
  const a = parseRunArgs(['cpu', 'latency', '--duration=2000', '--messages=40', '--seed=3', '--paged', '--out=/tmp/a=b', '--verbose']);
  assert.deepEqual(a.names, ['cpu', 'latency']);
  assert.deepEqual(a.opts, { paged: true, durationMs: 2000, messages: 40, seed: 3 });
  assert.equal(a.out, '/tmp/a=b', 'split at the first = only');
  assert.equal(a.verbose, true);
  assert.equal(a.help, false);
});

test('an unknown flag, an empty or malformed value, or a value given to a switch is a usage error', () => {
  for (const argv of [['--bogus'], ['--duration='], ['--duration=soon'], ['--messages=-1'], ['--seed=1.5'], ['--out='], ['--paged=yes']]) {
    assert.throws(() => parseRunArgs(argv), UsageError, argv.join(' '));
  }
});

test('npm run chaos -- --help prints the usage and the 8 drills and exits 0; an unknown flag exits 2 with the usage', () => {
  assert.deepEqual(DRILLS.map((d) => d.name), ['kill-actors', 'storage-full', 'session-churn', 'cpu', 'crash-storm', 'partition', 'latency', 'kill-9']);
  const help = spawnSync(process.execPath, ['--import', 'tsx', 'chaos/run.ts', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: npm run chaos/);
  assert.match(help.stdout, /drills: kill-actors, storage-full, session-churn, cpu, crash-storm, partition, latency, kill-9/);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'chaos/run.ts', '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Unknown option '--bogus'[\s\S]*usage: npm run chaos/);
  assert.equal(bad.stdout, '', 'nothing ran');
});
