/**
 * A svc-mailbox server as a child process, the way an operator runs it
 * (`node bin/mailbox.mjs serve`: the build when fresh, else the sources through tsx), that the durability tests kill with SIGKILL
 * and start again on the same data directory and ports. Signing keys come in through
 * MAILBOX_AUTH__KEYS, so the test mints its own token and the server writes no token file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../integration/helpers/process.ts';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyRing, mint } from '../../src/auth/index.ts';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const MAIN = join(ROOT, 'bin', 'mailbox.mjs');
/** tsx by URL, so a child whose cwd is outside the repo still finds it. */
export const TSX = import.meta.resolve('tsx');

/** A fixed 32-byte test secret (base64); never used outside tests. */
export const TEST_SECRET = Buffer.alloc(32, 7).toString('base64');
export const TEST_KEYS_ENV = `k1=${TEST_SECRET}`;

/** An admin token the test servers accept. */
export function testToken(): string {
  return mint(new KeyRing('k1', TEST_SECRET));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ChildServerOptions {
  /** Extra serve flags (e.g. `--data-dir D`, `--amnesia`). */
  args: string[];
  /** The child's whole environment is this plus LOG_LEVEL=warn and the test keys (nothing inherited but PATH). */
  env?: Record<string, string>;
  cwd?: string;
  /** Node flags before the script (default none: bin/mailbox.mjs loads tsx itself when the build is stale). */
  nodeArgs?: string[];
  /** The script to run (default bin/mailbox.mjs) with `serve` and the flags. */
  script?: string;
  /** Ms to wait for /readyz 200 (default 60 s). */
  readyTimeoutMs?: number;
}

export class ChildServer {
  private child: ChildProcess | undefined;
  private exit: Promise<void> = Promise.resolve();
  private exited = true;
  private disposed = false;
  private tail = '';
  starts = 0;

  private constructor(
    private readonly options: ChildServerOptions,
    readonly port: number,
    readonly adminPort: number,
  ) {}

  static async start(options: ChildServerOptions): Promise<ChildServer> {
    const server = new ChildServer(options, await freePort(), await freePort());
    await server.launch();
    return server;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines the child wrote (for failure messages). */
  log(): string {
    return this.tail;
  }

  /** Starts the process and waits for /readyz 200; resolves with ms from spawn to ready. */
  async launch(): Promise<number> {
    if (this.disposed) throw new Error('child server disposed: not starting it again');
    if (!this.exited) throw new Error('child still running');
    const o = this.options;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LOG_LEVEL: 'warn',
      MAILBOX_AUTH__KEYS: TEST_KEYS_ENV,
      ...o.env,
    };
    const args = [...(o.nodeArgs ?? []), o.script ?? MAIN, 'serve', '--listen', `127.0.0.1:${this.port}`, '--metrics-addr', `127.0.0.1:${this.adminPort}`, ...o.args];
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: o.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.child = child;
    this.exited = false;
    this.starts++;
    const keep = (b: Buffer): void => {
      this.tail = (this.tail + b.toString('utf8')).slice(-6000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = once(child, 'exit').then(() => {
      this.exited = true;
    });
    await this.waitReady(o.readyTimeoutMs ?? 60_000);
    return performance.now() - t0;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`server exited before ready:\n${this.tail}`);
      if (Date.now() > deadline) throw new Error(`server not ready within ${timeoutMs} ms:\n${this.tail}`);
      const ok = await fetch(`${this.adminUrl}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) return;
      await sleep(25);
    }
  }

  /**
   * kill -9 now and refuse every later launch. For `after` hooks: a test body that timed out
   * keeps running, and a restart it launched after the hook would outlive the test (its pipes
   * keep the test file's process alive, so the whole run hangs).
   */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.kill9();
  }

  /** kill -9, and wait until the process is gone. */
  async kill9(): Promise<void> {
    if (this.exited) return;
    this.child?.kill('SIGKILL');
    await this.exit;
  }

  /** SIGTERM (drain), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.exited) return;
    this.child?.kill('SIGTERM');
    // A cleared timer, not sleep(): a pending grace timer would hold the test process open that long after the exit.
    let grace: NodeJS.Timeout | undefined;
    const gone = await Promise.race([this.exit.then(() => true), new Promise<false>((r) => (grace = setTimeout(() => r(false), graceMs)))]);
    clearTimeout(grace);
    if (!gone) await this.kill9();
  }

  /** Queue depths summed over shards, from the state dump. */
  async depths(): Promise<{ ready: number; delayed: number; leased: number; dlq: number }> {
    type Node = { depths?: { ready: number; delayed: number; leased: number; dlq: number }; children?: Node[] };
    const sum = { ready: 0, delayed: 0, leased: 0, dlq: 0 };
    const walk = (n: Node): void => {
      if (n.depths) for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += n.depths[k];
      for (const c of n.children ?? []) walk(c);
    };
    walk((await (await fetch(`${this.adminUrl}/debug/tree`)).json()) as Node);
    return sum;
  }

  async metric(series: string): Promise<number> {
    const text = await (await fetch(`${this.adminUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  }
}
