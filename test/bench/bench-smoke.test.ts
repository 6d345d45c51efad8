import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BenchReport } from '../../bench/types.ts';

const ROOT = join(import.meta.dirname, '..', '..');

test('mailbox bench --quick runs workload A against a real server and every id arrives', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailbox-bench-smoke-'));
  try {
    const json = join(dir, 'out.json');
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'bench', '--quick', '--count', '2000', '--runs', '1', '--workload', 'A', '--store', 'amnesia', '--json', json, '--no-report', '--timeout', '40'];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    const a = report.results.filter((r) => r.system === 'svc-mailbox' && r.workload === 'A');
    assert.equal(a.length, 1);
    assert.equal(a[0]!.error, undefined);
    assert.equal(a[0]!.unique, 2000);
    assert.equal(a[0]!.missing, 0);
    assert.match(stdout, /svc-mailbox \| amnesia \| 1\/0 \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
