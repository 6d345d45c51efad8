import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { allocationSites } from '../../bench/heap-summary.ts';

const HOOK = fileURLToPath(new URL('../../bench/heap-sampling-hook.mjs', import.meta.url));

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });

test('allocationSites sums self bytes per function over every call path, largest first, with the total', () => {
  const head = {
    callFrame: frame('(root)'), selfSize: 0,
    children: [
      { callFrame: frame('enqueue', 'file:///x/q.ts', 9), selfSize: 300, children: [{ callFrame: frame('set'), selfSize: 50, children: [] }] },
      { callFrame: frame('lease', 'file:///x/q.ts', 19), selfSize: 100, children: [{ callFrame: frame('set'), selfSize: 70, children: [] }] },
    ],
  };
  const { total, sites } = allocationSites(head);
  assert.equal(total, 520);
  assert.deepEqual(sites.map((s) => [s.name, s.bytes]), [['enqueue', 300], ['set', 120], ['lease', 100]]);
  assert.match(sites[0]!.where, /q\.ts:10$/);
});

test('the heap sampling hook writes, at exit, a 0600 profile that counts garbage already collected', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heap-hook-'));
  try {
    // ~64 MB of short-lived arrays, freed as they go: a profile of live objects only would hold almost none of it.
    const script = 'let keep = 0; for (let i = 0; i < 2000; i++) keep += new Array(4096).fill(i).length; if (keep === 0) console.log(keep);';
    execFileSync(process.execPath, ['--import', HOOK, '-e', script], { env: { ...process.env, BENCH_HEAP_PROF_DIR: join(dir, 'prof') } });
    const files = readdirSync(join(dir, 'prof'));
    assert.equal(files.length, 1);
    const file = join(dir, 'prof', files[0]!);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'prof')).mode & 0o777, 0o700);
    const { total } = allocationSites(JSON.parse(readFileSync(file, 'utf8')).head);
    assert.ok(total > 32e6, `allocated ${total} B`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
