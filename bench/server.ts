/**
 * A real svc-mailbox server as a child process, as an operator would run it:
 * `node --import tsx src/cli/main.ts serve --listen … --metrics-addr …` on free loopback
 * ports, in a fresh temp data dir, LOG_LEVEL=warn. Started, probed on /readyz, asked for
 * its state dump, stopped with SIGTERM (SIGKILL after a grace period), temp dir removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './lib.ts';
import type { StoreVariant } from './types.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

export interface MailboxServer {
  pid: number;
  url: string;
  adminUrl: string;
  token: string;
  variant: StoreVariant;
  /** Queue depths summed over shards, from /debug/tree. */
  depths(): Promise<{ ready: number; delayed: number; leased: number; dlq: number }>;
  /** Last lines the server wrote on stderr/stdout (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  variant: StoreVariant;
  /** Pass `--cpu-prof --cpu-prof-dir DIR` to the child. */
  cpuProfDir?: string;
  extraEnv?: Record<string, string>;
}

/** A port the kernel just handed out on 127.0.0.1 (free at the time of asking). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

interface TreeNode {
  depths?: { ready: number; delayed: number; leased: number; dlq: number };
  children?: TreeNode[];
}

function sumDepths(node: TreeNode, acc = { ready: 0, delayed: 0, leased: 0, dlq: 0 }): typeof acc {
  if (node.depths) {
    acc.ready += node.depths.ready;
    acc.delayed += node.depths.delayed;
    acc.leased += node.depths.leased;
    acc.dlq += node.depths.dlq;
  }
  for (const c of node.children ?? []) sumDepths(c, acc);
  return acc;
}

export async function startMailbox(options: StartOptions): Promise<MailboxServer> {
  const tmp = mkdtempSync(join(tmpdir(), 'mailbox-bench-'));
  const [port, adminPort] = [await freePort(), await freePort()];
  const tokenFile = join(tmp, 'admin.token');
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...options.extraEnv };
  for (const k of Object.keys(env)) if (k.startsWith('MAILBOX_') || k === 'RON_CONFIG' || k === 'AMNESIA') delete env[k];
  env.LOG_LEVEL = 'warn';
  env.MAILBOX_AUTH__ADMIN_TOKEN_FILE = tokenFile;
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--metrics-addr', `127.0.0.1:${adminPort}`];
  if (options.variant === 'amnesia') args.push('--amnesia');
  else {
    args.push('--data-dir', join(tmp, 'data'), '--durability', options.variant === 'level+sync' ? 'sync' : 'relaxed');
  }
  const nodeArgs = ['--import', 'tsx'];
  if (options.cpuProfDir) {
    mkdirSync(options.cpuProfDir, { recursive: true });
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', resolve(options.cpuProfDir));
  }
  // No config file: the bench server runs on defaults plus these flags, whatever mailbox.config.ts says.
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, MAIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (b: Buffer): void => {
    tail = (tail + b.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: number | null | undefined;
  const exit = new Promise<void>((r) => child.once('exit', (code) => ((exited = code), r())));
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  const stop = async (): Promise<void> => {
    if (exited === undefined && child.pid) {
      child.kill('SIGTERM');
      const gone = await Promise.race([exit.then(() => true), sleep(15_000).then(() => false)]);
      if (!gone) {
        child.kill('SIGKILL');
        await exit;
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  };

  try {
    const t0 = Date.now();
    for (;;) {
      if (exited !== undefined) throw new Error(`svc-mailbox exited (code ${exited}) before ready:\n${tail}`);
      if (Date.now() - t0 > 30_000) throw new Error(`svc-mailbox not ready within 30 s:\n${tail}`);
      const ok = await fetch(`${adminUrl}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) break;
      await sleep(100);
    }
    const token = readFileSync(tokenFile, 'utf8').trim();
    return {
      pid: child.pid!,
      url: `ws://127.0.0.1:${port}`,
      adminUrl,
      token,
      variant: options.variant,
      depths: async () => sumDepths((await (await fetch(`${adminUrl}/debug/tree`)).json()) as TreeNode),
      log: () => tail,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
