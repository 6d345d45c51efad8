/**
 * Workload fair (issue 16): does a tenant at 10× its quota raise another tenant's p99?
 *
 * One svc-mailbox server per store variant, started with a policy file that gives the hot
 * tenant `sendPerSecond` = `--fair-quota` (burst 1 s) and the calm tenant no limit, and a
 * signing key the bench makes, so that it can mint one token per tenant (and the admin token).
 * Each pair runs workload B as the calm tenant (its own producer and consumer connections,
 * its own topic) twice on that same server: once alone, once while the hot tenant
 * (bench/fair-hot.ts, a child process) tries `--fair-quota` × `--fair-factor` SENDs/s and a
 * consumer of its own acks what gets in. The order alternates pair by pair.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANY_TENANT, KeyRing, generateKey, mint } from '../src/auth/index.ts';
import type { Caveat } from '../src/auth/caveats.ts';
import { deadline, procCpuS, round, sleep } from './lib.ts';
import { mailboxLoad, type Identity } from './mailbox.ts';
import { startMailbox, type MailboxServer, type StartOptions } from './server.ts';
import type { HotMessage, HotStart, HotStats } from './fair-hot.ts';
import type { BenchOptions, FairHalf, FairPair, HotLoad, RunResult, StoreVariant } from './types.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const HOT_SCRIPT = join(ROOT, 'bench', 'fair-hot.ts');
/** The hot producer's most unanswered SENDs: refusals come back within a few ms, so this only bites if the server stalls. */
const HOT_MAX_INFLIGHT = 1_000;
const HOT_PREFETCH = 1_000; // the most a subscription may ask for
/** The hot tenant runs this long before the calm tenant starts, so its child has compiled and its bucket is empty. */
const HOT_SETTLE_MS = 500;

export interface FairServer {
  server: MailboxServer;
  calm: Identity;
  hot: Identity;
  stop(): Promise<void>;
}

const tenantId = (): string => randomBytes(16).toString('hex');
const tenantCaveat = (tenant: string): Caveat => ({ kind: 'tenant', tenant: tenant as never });

/** The server of workload fair: the hot tenant's quota in a policy file, tokens for both tenants. */
export async function startFairServer(variant: StoreVariant, opts: BenchOptions, start: Omit<StartOptions, 'variant' | 'token'>): Promise<FairServer> {
  if (variant === 'redis-shared-3') throw new Error('workload fair runs on one server, not on redis-shared-3');
  const dir = mkdtempSync(join(tmpdir(), 'mailbox-bench-fair-'));
  const calm = tenantId();
  const hot = tenantId();
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, `${JSON.stringify({ tenants: { [hot]: { sendPerSecond: opts.fairQuota, burstSeconds: 1 } } }, null, 2)}\n`, { mode: 0o600 });
  const secret = generateKey();
  const ring = new KeyRing('k1', secret);
  const extraEnv = { ...start.extraEnv, MAILBOX_AUTH__KEYS: `k1=${secret}`, MAILBOX_AUTH__ACTIVE_KID: 'k1', MAILBOX_POLICY_FILE: policyFile };
  let server: MailboxServer;
  try {
    server = await startMailbox({ ...start, variant, extraEnv, token: mint(ring, { caveats: [tenantCaveat(ANY_TENANT)] }) });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    server,
    calm: { tenant: calm, token: mint(ring, { caveats: [tenantCaveat(calm)] }) },
    hot: { tenant: hot, token: mint(ring, { caveats: [tenantCaveat(hot)] }) },
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface HotChild {
  pid: number | undefined;
  stop(): Promise<HotStats>;
}

/** Starts the hot tenant's child and resolves once its producer is sending. */
async function startHot(fs: FairServer, opts: BenchOptions): Promise<HotChild> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', HOT_SCRIPT], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let tail = '';
  const keep = (b: Buffer): void => void (tail = (tail + b.toString('utf8')).slice(-2000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const next = (): Promise<HotMessage> => Promise.race([
    new Promise<HotMessage>((r) => child.once('message', (m) => r(m as HotMessage))),
    exited.then((code): HotMessage => ({ type: 'failed', error: `hot tenant exited (code ${code}): ${tail}` })),
  ]);
  const topic = `fairhot.${process.pid.toString(36)}${Date.now().toString(36)}`;
  const cfg: HotStart = {
    type: 'start', url: fs.server.url, token: fs.hot.token, tenant: fs.hot.tenant, topic, rate: opts.fairQuota * opts.fairFactor,
    payload: opts.payload, maxInflight: HOT_MAX_INFLIGHT, prefetch: HOT_PREFETCH, drainTimeoutMs: opts.timeoutS * 1000,
  };
  const running = next();
  child.send(cfg);
  const first = await deadline(running, 60_000, 'hot tenant start').catch((err: Error): HotMessage => ({ type: 'failed', error: err.message }));
  if (first.type !== 'running') {
    child.kill('SIGKILL');
    throw new Error(first.type === 'failed' ? first.error : 'hot tenant: unexpected message');
  }
  await sleep(HOT_SETTLE_MS);
  return {
    pid: child.pid,
    stop: async () => {
      const done = next();
      child.send({ type: 'stop' });
      const m = await deadline(done, opts.timeoutS * 1000, 'hot tenant stop').catch((err: Error): HotMessage => ({ type: 'failed', error: err.message }));
      await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
      if (m.type !== 'done') throw new Error(m.type === 'failed' ? m.error : 'hot tenant: unexpected message');
      return m.stats;
    },
  };
}

function hotLoad(s: HotStats, opts: BenchOptions, cpuS: number | undefined): HotLoad {
  const per = (n: number): number => (s.producingSeconds > 0 ? Math.round(n / s.producingSeconds) : 0);
  return {
    quotaPerSecond: opts.fairQuota,
    triedPerSecond: opts.fairQuota * opts.fairFactor,
    offeredPerSec: per(s.offered),
    admittedPerSec: per(s.admitted),
    refusedPerSec: per(s.refused),
    skippedPerSec: per(s.skipped),
    admitted: s.admitted,
    refused: s.refused,
    otherErrors: s.otherErrors,
    ...(s.firstError ? { firstError: s.firstError } : {}),
    received: s.received,
    producingSeconds: round(s.producingSeconds, 3),
    answeredSeconds: round(s.answeredSeconds, 3),
    ...(cpuS === undefined ? {} : { cpuS }),
  };
}

/** Workload B as the calm tenant, with the hot tenant running or not. */
async function half(fs: FairServer, withHot: boolean, run: number, opts: BenchOptions, progress: (done: number, total: number) => void): Promise<{ half: FairHalf; n: number }> {
  const hot = withHot ? await startHot(fs, opts) : undefined;
  const cpu0 = procCpuS(hot?.pid);
  let r: RunResult;
  try {
    r = await mailboxLoad(fs.server, 'B', run, opts, progress, fs.calm);
  } catch (err) {
    if (hot) await hot.stop().catch(() => undefined);
    throw err;
  }
  const cpu1 = procCpuS(hot?.pid);
  const stats = hot ? await hot.stop() : undefined;
  const h: FairHalf = {
    ...(r.latencyMs ? { latencyMs: r.latencyMs } : {}),
    ...(r.seconds === undefined ? {} : { seconds: r.seconds }),
    ...(r.cpu ? { cpu: r.cpu } : {}),
    ...(r.gc ? { gc: r.gc } : {}),
    missing: r.missing ?? 0,
    duplicates: r.duplicates ?? 0,
    ...(r.error ? { error: r.error } : {}),
    ...(stats ? { hot: hotLoad(stats, opts, cpu0 === undefined || cpu1 === undefined ? undefined : round(cpu1 - cpu0, 2)) } : {}),
  };
  return { half: h, n: r.n };
}

/** One pair: the calm tenant's workload B without and with the hot tenant, in alternating order. */
export async function fairPair(fs: FairServer, run: number, opts: BenchOptions, progress: (done: number, total: number) => void): Promise<RunResult> {
  const order: FairPair['order'] = run % 2 === 1 ? 'without-first' : 'with-first';
  const halves: Partial<Record<'with' | 'without', FairHalf>> = {};
  let n = 0;
  for (const withHot of order === 'without-first' ? [false, true] : [true, false]) {
    const { half: h, n: count } = await half(fs, withHot, run, opts, progress);
    halves[withHot ? 'with' : 'without'] = h;
    n += count;
  }
  const without = halves.without!;
  const withH = halves.with!;
  const p0 = without.latencyMs?.p99;
  const p1 = withH.latencyMs?.p99;
  const hot = withH.hot;
  const hotMissing = hot ? Math.max(0, hot.admitted - hot.received) : 0;
  await sleep(100);
  const depths = await fs.server.depths();
  const errors = [
    without.error && `without: ${without.error}`,
    withH.error && `with: ${withH.error}`,
    hot?.otherErrors ? `hot tenant: ${hot.otherErrors} SENDs failed other than E_SATURATED: ${hot.firstError}` : undefined,
    hotMissing > 0 ? `hot tenant: ${hotMissing} admitted messages not received` : undefined,
  ].filter((e): e is string => typeof e === 'string');
  return {
    system: 'svc-mailbox',
    variant: fs.server.variant,
    workload: 'fair',
    run,
    n,
    size: opts.payload,
    fair: {
      calmTenant: fs.calm.tenant,
      hotTenant: fs.hot.tenant,
      order,
      without,
      with: withH,
      ...(p0 && p1 ? { p99Ratio: Math.round((p1 / p0) * 1000) / 1000 } : {}),
    },
    missing: (without.missing ?? 0) + (withH.missing ?? 0) + hotMissing,
    duplicates: (without.duplicates ?? 0) + (withH.duplicates ?? 0),
    serverAfter: { ready: depths.ready, leased: depths.leased, delayed: depths.delayed, dlq: depths.dlq },
    ...(errors.length ? { error: errors.join('; ') } : {}),
  };
}
