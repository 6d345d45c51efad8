/**
 * A real svc-mailbox server as a child process, as an operator would run it:
 * `node bin/mailbox.mjs serve --listen … --metrics-addr …` (the build in dist/, rebuilt first
 * when stale, as `npm start` does; the sources through tsx for a CPU profile) on free loopback
 * ports, in a fresh temp data dir, LOG_LEVEL=warn. Started, probed on /readyz, asked for
 * its state dump, stopped with SIGTERM (SIGKILL after a grace period), temp dir removed.
 * For the durable figures it can also be killed with SIGKILL and started again on the same
 * data dir and ports (timed from spawn to /readyz 200), and — started with `exposeGc` —
 * asked for a full GC before its RSS is read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { parseGcHistogram, type GcTotals } from './gc.ts';
import { deadline, now, sleep } from './lib.ts';
import type { StoreVariant } from './types.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const BIN = join(ROOT, 'bin', 'mailbox.mjs');
/** The 'gc' IPC hook, preloaded into a server started with `exposeGc`. */
const GC_HOOK = join(ROOT, 'bench', 'gc-hook.mjs');
const HEAP_HOOK = join(ROOT, 'bench', 'heap-sampling-hook.mjs');
const READY_POLL_MS = 25;

export interface ServerMemory {
  /** VmRSS of the server process, read from /proc/<pid>/status after the GC. */
  rssBytes: number;
  /** The anonymous part of it (heaps, malloc) … */
  rssAnonBytes: number;
  /** … and the file-backed part (code, LevelDB tables mapped for reading: page cache the kernel can reclaim). */
  rssFileBytes: number;
  heapUsedBytes: number;
  /** V8 heap committed (used + free space V8 keeps). */
  heapTotalBytes: number;
  /** Memory of C++ objects bound to JS, ArrayBuffers (payload buffers) included. */
  externalBytes: number;
  /** ArrayBuffer backing stores alone (payloads, frames, the idempotency filter). */
  arrayBuffersBytes: number;
}

export interface MailboxServer {
  /** PID of the current process (a new one after `crashRestart`). */
  readonly pid: number;
  url: string;
  adminUrl: string;
  token: string;
  variant: StoreVariant;
  /** Ms from spawn to the first /readyz 200 of the current process. */
  readonly readyMs: number;
  /** Queue depths summed over shards, from /debug/tree. */
  depths(): Promise<{ ready: number; delayed: number; leased: number; dlq: number }>;
  /** GC pauses since the current process started, from its /metrics. */
  gcTotals(): Promise<GcTotals>;
  /** kill -9, then the same command again on the same data dir and ports; resolves with ms from spawn to /readyz 200. */
  crashRestart(): Promise<number>;
  /** Full GC in the server, then its RSS and heap (only for a server started with `exposeGc`). */
  memory(): Promise<ServerMemory>;
  /** Last lines the server wrote on stderr/stdout (for failure messages). */
  log(): string;
  /** The Redis a `redis*` variant writes to: its PID (when it runs on this machine) and its command counter. */
  backend?: RedisBackend;
  /**
   * A group of servers (`redis-shared-3`): where the bench's producers and consumers connect,
   * client i to entry i mod length. Absent: every client connects to `url`.
   */
  urls?: { producers: readonly string[]; consumers: readonly string[] };
  /** The group's other server processes: their CPU counts as the server's too. */
  otherPids?: readonly number[];
  stop(): Promise<void>;
}

export interface RedisBackend {
  /** redis-server's PID when it runs here (its CPU counts as the server's), else undefined. */
  pid: number | undefined;
  /**
   * INFO total_commands_processed (commands inside scripts included), the EVALSHA/EVAL calls (the
   * store's round trips) and the µs Redis spent running them (commandstats `usec`, inner commands included).
   */
  counters(): Promise<{ commands: number; scripts: number; scriptUs: number }>;
  /**
   * Queue depths summed over the prefix's shards, read from Redis itself (shared mode: an
   * instance's /debug/tree shows a cache it refreshes every 2 s, and every instance shows all of it).
   */
  sharedDepths(): Promise<{ ready: number; delayed: number; leased: number; dlq: number }>;
}

/** The Redis the `redis` variant uses: REDIS_URL, else the machine's 127.0.0.1:6379. */
export const BENCH_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The bench's own connection to the Redis of a `redis*` variant, for one key prefix. */
export async function redisBackend(prefix: string): Promise<{ backend: RedisBackend; cleanup: () => Promise<void> }> {
  const client = new Redis(BENCH_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  await client.connect().catch((err: unknown) => {
    throw new Error(`--store redis: cannot reach ${BENCH_REDIS_URL}: ${err instanceof Error ? err.message : String(err)}`);
  });
  const field = (info: string, name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  const pid = field(await client.info('server'), 'process_id');
  const local = Number.isFinite(pid) && (() => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis');
    } catch {
      return false;
    }
  })();
  return {
    backend: {
      pid: local ? pid : undefined,
      counters: async () => {
        const stats = await client.info('stats');
        const commandstats = await client.info('commandstats');
        const calls = (name: string): number => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(commandstats)?.[1] ?? 0);
        const usec = (name: string): number => Number(new RegExp(`^cmdstat_${name}:calls=\\d+,usec=(\\d+)`, 'm').exec(commandstats)?.[1] ?? 0);
        return { commands: field(stats, 'total_commands_processed'), scripts: calls('evalsha') + calls('eval'), scriptUs: usec('evalsha') + usec('eval') };
      },
      sharedDepths: async () => {
        // Shared mode's per-shard counts (`:c`) and DLQ index (`:qk`), src/store/redis-shared-scripts.ts.
        const acc = { ready: 0, delayed: 0, leased: 0, dlq: 0 };
        const counts = new RegExp(`^\\{${prefix}:\\d+\\}:c$`);
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `{${prefix}:*}:c`, 'COUNT', 1000);
          cursor = next;
          for (const key of keys.filter((k) => counts.test(k))) {
            const [ready, delayed, leased] = await client.hmget(key, 'ready', 'delayed', 'leased');
            acc.ready += Number(ready ?? 0);
            acc.delayed += Number(delayed ?? 0);
            acc.leased += Number(leased ?? 0);
            acc.dlq += await client.zcard(`${key.slice(0, -2)}:qk`);
          }
        } while (cursor !== '0');
        return acc;
      },
    },
    // Only this server's keys (its own prefix), never the rest of a shared Redis.
    cleanup: async () => {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `{${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.unlink(...keys);
      } while (cursor !== '0');
      await client.quit();
    },
  };
}

/** A key prefix of this bench process's own: no other run or user of the Redis writes under it. */
export function benchPrefix(): string {
  return `mbxbench-${process.pid}-${Date.now().toString(36)}`;
}

export interface StartOptions {
  variant: StoreVariant;
  /** Pass `--cpu-prof --cpu-prof-dir DIR` to the child. */
  cpuProfDir?: string;
  /** Preload bench/heap-sampling-hook.mjs: a sampling heap profile of every allocation, written to DIR at exit. */
  heapProfDir?: string;
  extraEnv?: Record<string, string>;
  /** Run with `--expose-gc` and an IPC channel, so that `memory()` can ask for a full GC. */
  exposeGc?: boolean;
  /** Longest wait for /readyz 200 after a spawn (default 30 s). */
  readyTimeoutMs?: number;
  /**
   * `redis-shared` only: join this key prefix as one member of a group (bench/server-group.ts),
   * which made the prefix and deletes its keys; the member has no `backend` of its own.
   */
  redisPrefix?: string;
  /** The token clients use, for a server given its signing key (`MAILBOX_AUTH__KEYS`): it then writes no admin token file. */
  token?: string;
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

/** Resident set size of a process in bytes (/proc/<pid>/status VmRSS, reported in kB). */
export function vmRssBytes(pid: number): number {
  return procStatusBytes(pid, 'VmRSS');
}

/** One kB figure of /proc/<pid>/status (VmRSS, RssAnon, RssFile…), in bytes. */
export function procStatusBytes(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  if (line === undefined) throw new Error(`/proc/${pid}/status has no ${field} line`);
  return Number(line.split(/\s+/)[1]) * 1024;
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

/** The servers (and their temp dirs) of this bench process that are running now. */
const live = new Map<ChildProcess, string>();
let reaperInstalled = false;

/**
 * A bench stopped by SIGINT or SIGTERM (Ctrl-C, or a test that gave up on it) takes its servers
 * with it: without this they would go on running, orphaned, with their temp dirs.
 */
function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const [c, dir] of live) {
        c.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

export async function startMailbox(options: StartOptions): Promise<MailboxServer> {
  installReaper();
  const tmp = mkdtempSync(join(tmpdir(), 'mailbox-bench-'));
  const [port, adminPort] = [await freePort(), await freePort()];
  const tokenFile = join(tmp, 'admin.token');
  // The server's configuration is the defaults, these flags and `extraEnv`: nothing from the caller's MAILBOX_*.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('MAILBOX_') || k === 'RON_CONFIG' || k === 'AMNESIA') delete env[k];
  // glibc's malloc as `npm start` sets it (see docs/OPERATIONS.md, Memory).
  Object.assign(env, { LOG_LEVEL: 'warn', MALLOC_MMAP_THRESHOLD_: '131072' }, options.extraEnv, { MAILBOX_AUTH__ADMIN_TOKEN_FILE: tokenFile });
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--metrics-addr', `127.0.0.1:${adminPort}`];
  let redis: Awaited<ReturnType<typeof redisBackend>> | undefined;
  if (options.variant === 'amnesia') args.push('--amnesia');
  else if (options.variant === 'redis' || options.variant === 'redis-shared') {
    const prefix = options.redisPrefix ?? benchPrefix();
    if (options.redisPrefix === undefined) redis = await redisBackend(prefix);
    args.push('--data-dir', join(tmp, 'data'), '--store', 'redis');
    Object.assign(env, { MAILBOX_REDIS__URL: BENCH_REDIS_URL, MAILBOX_REDIS__PREFIX: prefix });
    if (options.variant === 'redis-shared') env['MAILBOX_REDIS__SHARED'] = 'true';
  } else if (options.variant === 'redis-shared-3') {
    throw new Error('redis-shared-3 is a group of servers: start it with startSharedGroup (bench/server-group.ts)');
  } else {
    args.push('--data-dir', join(tmp, 'data'), '--durability', options.variant === 'level+sync' ? 'sync' : 'relaxed');
  }
  // The build, as operators start it; a CPU profile keeps the TypeScript files in its frames.
  if (!options.cpuProfDir) await import('../scripts/build-if-stale.mjs');
  const nodeArgs = options.cpuProfDir ? ['--import', 'tsx'] : [];
  if (options.exposeGc) nodeArgs.push('--expose-gc', '--import', GC_HOOK);
  if (options.heapProfDir) {
    mkdirSync(options.heapProfDir, { recursive: true, mode: 0o700 });
    nodeArgs.push('--import', HEAP_HOOK);
    env['BENCH_HEAP_PROF_DIR'] = resolve(options.heapProfDir);
  }
  if (options.cpuProfDir) {
    mkdirSync(options.cpuProfDir, { recursive: true });
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', resolve(options.cpuProfDir));
  }
  const script = options.cpuProfDir ? MAIN : BIN;
  const stdio: Array<'ignore' | 'pipe' | 'ipc'> = ['ignore', 'pipe', 'pipe', ...(options.exposeGc ? ['ipc' as const] : [])];
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  let child: ChildProcess | undefined;
  let exited: number | null | undefined;
  let exit: Promise<void> = Promise.resolve();
  let tail = '';
  let readyMs = 0;
  const keep = (b: Buffer): void => {
    tail = (tail + b.toString('utf8')).slice(-4000);
  };

  /** Spawns the server and waits for /readyz 200; resolves with ms from spawn to ready. */
  const launch = async (): Promise<number> => {
    const t0 = now();
    // No config file: the bench server runs on defaults plus these flags, whatever mailbox.config.ts says.
    const c = spawn(process.execPath, [...nodeArgs, script, ...args], { cwd: ROOT, env, stdio });
    child = c;
    exited = undefined;
    live.set(c, tmp);
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    exit = new Promise<void>((r) => c.once('exit', (code) => ((exited = code), live.delete(c), r())));
    for (;;) {
      if (exited !== undefined) throw new Error(`svc-mailbox exited (code ${exited}) before ready:\n${tail}`);
      if (now() - t0 > readyTimeoutMs) throw new Error(`svc-mailbox not ready within ${Math.round(readyTimeoutMs / 1000)} s:\n${tail}`);
      const ok = await fetch(`${adminUrl}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) break;
      await sleep(READY_POLL_MS);
    }
    readyMs = now() - t0;
    return readyMs;
  };

  const kill9 = async (): Promise<void> => {
    if (exited === undefined && child?.pid) {
      child.kill('SIGKILL');
      await exit;
    }
  };

  const stop = async (): Promise<void> => {
    if (exited === undefined && child?.pid) {
      child.kill('SIGTERM');
      // A cleared timer, not sleep(): a pending 15 s timer would hold the bench process open that long.
      let grace: NodeJS.Timeout | undefined;
      const gone = await Promise.race([exit.then(() => true), new Promise<false>((r) => (grace = setTimeout(() => r(false), 15_000)))]);
      clearTimeout(grace);
      if (!gone) await kill9();
    }
    rmSync(tmp, { recursive: true, force: true });
    await redis?.cleanup().catch(() => {});
  };

  const memory = async (): Promise<ServerMemory> => {
    const c = child;
    if (!c?.send || !c.pid) throw new Error('memory(): the server was not started with exposeGc');
    type Reply = { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
    const reply = new Promise<Reply>((r) => c.once('message', (m) => r(m as Reply)));
    c.send('gc');
    const { heapUsed, heapTotal, external, arrayBuffers } = await deadline(reply, 300_000, 'full GC in the server');
    return { rssBytes: vmRssBytes(c.pid), rssAnonBytes: procStatusBytes(c.pid, 'RssAnon'), rssFileBytes: procStatusBytes(c.pid, 'RssFile'), heapUsedBytes: heapUsed, heapTotalBytes: heapTotal, externalBytes: external, arrayBuffersBytes: arrayBuffers };
  };

  try {
    await launch();
    const token = options.token ?? readFileSync(tokenFile, 'utf8').trim();
    return {
      get pid() {
        return child!.pid!;
      },
      url: `ws://127.0.0.1:${port}`,
      adminUrl,
      token,
      variant: options.variant,
      get readyMs() {
        return readyMs;
      },
      depths: async () => (options.variant === 'redis-shared' && redis
        ? redis.backend.sharedDepths()
        : sumDepths((await (await fetch(`${adminUrl}/debug/tree`)).json()) as TreeNode)),
      gcTotals: async () => parseGcHistogram(await (await fetch(`${adminUrl}/metrics`)).text()),
      crashRestart: async () => {
        await kill9();
        return launch();
      },
      memory,
      log: () => tail,
      ...(redis ? { backend: redis.backend } : {}),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
