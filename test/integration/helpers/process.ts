/**
 * Running `mailbox serve` as a child process, the way an operator does: free ports, a
 * private environment, its stdout JSON lines kept for the test to read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A port nobody listens on right now (bound to 0 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface ServeProcess {
  child: ChildProcess;
  /** Raw stdout text so far. */
  stdout(): string;
  stderr(): string;
  /** stdout parsed as JSON lines (non-JSON lines are skipped). */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name) once the process ended. */
  exited: Promise<number | string>;
}

/** The JSON objects among a process's output lines (pino's log lines); other lines are skipped. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').flatMap((line) => {
    if (!line.trim().startsWith('{')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** The parent's environment minus anything that would configure the mailbox behind the test's back. */
export function cleanEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('MAILBOX_') || ['RON_CONFIG', 'METRICS_ADDR', 'AMNESIA', 'LOG_LEVEL'].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, ...overrides };
}

/** `node bin/mailbox.mjs serve …args` in the repository root (what `npm start` runs). */
export function spawnServe(args: string[], env: Record<string, string>): ServeProcess {
  const child = spawn(process.execPath, ['bin/mailbox.mjs', 'serve', ...args], {
    cwd: REPO_ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logs: () => jsonLines(out),
    exited,
  };
}
