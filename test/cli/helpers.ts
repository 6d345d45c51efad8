/**
 * Running the `mailbox` command and a real server the way a user does: the CLI as a child
 * process in the repository root, `npm start` or `node bin/mailbox.mjs serve` in its own process
 * group (as a terminal runs it), with ephemeral ports and a temp data directory.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, jsonLines } from '../integration/helpers/process.ts';

export { cleanEnv };

export const ROOT = join(import.meta.dirname, '../..');
/**
 * What a user runs: the build when it is fresh (it is after `npm ci`), else the sources
 * through tsx (bin/mailbox.mjs decides). A spawn of the build starts ~0.25 s sooner.
 */
const MAIN = join(ROOT, 'bin/mailbox.mjs');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mailbox …` as a child process from the repository root, with `env` added to a clean environment. */
export function mailbox(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<Run> {
  return run(process.execPath, [MAIN, ...args], env, timeoutMs);
}

/** Runs any command from the repository root; resolves with its exit code and output. */
/** A long-running `mailbox …` child (tail, tree --watch, a paced reprocess): its output so far and its exit. */
export interface LiveCommand {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | string>;
}

export function spawnMailbox(args: readonly string[], env: Record<string, string> = {}): LiveCommand {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

export function run(file: string, args: readonly string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, [...args], { cwd: ROOT, env: cleanEnv(env), timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  /** ws://host:port and http://host:port, read from the server's `listening` log lines. */
  url: string;
  adminUrl: string;
  logs(): Array<Record<string, unknown>>;
  output(): string;
  /** Exit code, or the signal name. */
  exited: Promise<number | string>;
  /** Sends `signal` to the whole process group, as a terminal's Ctrl-C does. */
  signalGroup(signal: NodeJS.Signals): void;
  /** SIGKILLs the group if it still runs. */
  kill(): void;
}

/**
 * Starts `command args` (e.g. `npm start`) detached, in its own process group, with ports 0 and
 * `env`; resolves once both ports are listening and /readyz answers 200.
 */
export async function startServerProcess(command: string, args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  const child = spawn(command, [...args], {
    cwd: ROOT,
    env: cleanEnv({ MAILBOX_LISTEN: '127.0.0.1:0', MAILBOX_METRICS_ADDR: '127.0.0.1:0', LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? -1);
    });
  });
  const logs = (): Array<Record<string, unknown>> => jsonLines(out);
  const addr = (event: string): string | undefined => logs().find((l) => l.event === event)?.addr as string | undefined;
  const pid = child.pid!;
  const server: Omit<ServerProcess, 'url' | 'adminUrl'> = {
    child,
    logs,
    output: () => out,
    exited,
    signalGroup: (signal) => process.kill(-pid, signal),
    kill: () => {
      if (!done) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done) throw new Error(`server exited before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      server.kill();
      throw new Error(`server not ready within ${timeoutMs} ms:\n${out}`);
    }
    const ws = addr('listening');
    const admin = addr('admin_listening');
    if (ws && admin) {
      const ready = await fetch(`http://${admin}/readyz`).then((r) => r.status === 200, () => false);
      if (ready) return { ...server, url: `ws://${ws}`, adminUrl: `http://${admin}` };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
