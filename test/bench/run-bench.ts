/** Runs `mailbox bench ARGS --json FILE --no-report` as a child process for the bench smoke tests. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { BenchReport } from '../../bench/types.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Asserts a zero exit and returns the JSON report and what the bench printed on stdout.
 * `signal` (the test's) kills the bench when the test ends first: a bench left running would
 * keep its servers up and, through its pipes, the test file's process alive.
 */
export async function runBench(args: readonly string[], signal?: AbortSignal): Promise<{ report: BenchReport; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mailbox-bench-smoke-'));
  try {
    const json = join(dir, 'out.json');
    const argv = ['--import', 'tsx', 'src/cli/main.ts', 'bench', ...args, '--json', json, '--no-report'];
    const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal, killSignal: 'SIGTERM' as const } : {}) });
    child.on('error', () => {}); // an abort is reported as an 'error'; the exit below says the rest
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    return { report: JSON.parse(readFileSync(json, 'utf8')) as BenchReport, stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
