/**
 * What every load run shares, ported from the peers-bench `lib.mjs` so that svc-mailbox and
 * the peers get the same payloads, the same clock, the same window, the same pacing, the same
 * percentile maths and the same CPU accounting. Change one of these and the numbers stop being
 * comparable with /work/shared/peers-bench/RESULTS.md.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Monotonic ms with a sub-µs fraction; producer and consumer share it (one process). */
export const now = (): number => performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

// ---- payloads --------------------------------------------------------------------------
// [0..8) float64 LE sequence id, [8..16) float64 LE send timestamp (now()),
// [16..) incompressible filler, a window into 64 KiB of random bytes fixed per process.
const filler = randomBytes(64 * 1024);

export function makePayload(seq: number, size: number, ts = now()): Buffer {
  const b = Buffer.allocUnsafe(Math.max(16, size));
  b.writeDoubleLE(seq, 0);
  b.writeDoubleLE(ts, 8);
  const off = (seq * 61) % (filler.length - size);
  filler.copy(b, 16, off, off + size - 16);
  return b;
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
export const readSeq = (b: Uint8Array): number => view(b).getFloat64(0, true);
export const readTs = (b: Uint8Array): number => view(b).getFloat64(8, true);

// ---- delivery bookkeeping -------------------------------------------------------------
/** Which ids arrived, how many twice; `done` resolves once every expected id was seen. */
export class Tracker {
  readonly seen: Uint8Array;
  unique = 0;
  total = 0;
  dups = 0;
  unknown = 0;
  /** Latencies in ms, only when `record` gets a timestamp. */
  readonly lat: number[] = [];
  /** Latencies of ids below this (the warm-up) are not recorded. */
  latencyFrom = 0;
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  /** `capacity` bounds the ids accepted; by default it is the expected count. */
  constructor(public expected: number, capacity = expected) {
    this.seen = new Uint8Array(capacity);
    this.done = new Promise((r) => (this.resolveDone = r));
    if (expected === 0) this.resolveDone();
  }

  /** Duration mode: the producer decided how many it sent; done once those all arrived. */
  expect(total: number): void {
    this.expected = total;
    if (this.unique >= total) this.resolveDone();
  }

  /** True when this was the first delivery of `seq`. */
  record(seq: number, ts?: number): boolean {
    this.total++;
    if (ts !== undefined && seq >= this.latencyFrom) this.lat.push(now() - ts);
    if (!(seq >= 0 && seq < this.seen.length) || !Number.isInteger(seq)) {
      this.unknown++;
      return false;
    }
    if (this.seen[seq]) {
      this.dups++;
      if (this.seen[seq]! < 255) this.seen[seq]!++;
      return false;
    }
    this.seen[seq] = 1;
    if (++this.unique === this.expected) this.resolveDone();
    return true;
  }

  missing(): number {
    return this.expected - this.unique;
  }
}

// ---- publish window -------------------------------------------------------------------
/** At most `size` unconfirmed publishes; `acquire` is undefined on the fast path. */
export class Window {
  inflight = 0;
  private waiters: Array<() => void> = [];
  private idle: Array<() => void> = [];

  constructor(readonly size: number) {}

  acquire(): Promise<void> | undefined {
    if (this.inflight < this.size) {
      this.inflight++;
      return undefined;
    }
    return new Promise<void>((r) => this.waiters.push(r)).then(() => {
      this.inflight++;
    });
  }

  release(): void {
    this.inflight--;
    const w = this.waiters.shift();
    if (w) w();
    else if (this.inflight === 0) for (const r of this.idle.splice(0)) r();
  }

  drain(): Promise<void> {
    return this.inflight === 0 && this.waiters.length === 0 ? Promise.resolve() : new Promise((r) => this.idle.push(r));
  }
}

/**
 * Fixed-rate sender (workload B): after t seconds about rate·t messages were sent. The 1 ms
 * timer sends bursts of ceil(rate/1000) per tick; the payload timestamp is taken at send.
 */
export async function paced(
  rate: number,
  seconds: number,
  send: (seq: number) => Promise<void> | void,
  stop: () => boolean = () => false,
): Promise<{ total: number; sendSeconds: number }> {
  const total = Math.round(rate * seconds);
  const t0 = now();
  let seq = 0;
  while (seq < total && !stop()) {
    const due = Math.min(total, Math.floor(((now() - t0) / 1000) * rate) + 1);
    while (seq < due) {
      const p = send(seq++);
      if (p) await p;
    }
    await sleep(1);
  }
  return { total, sendSeconds: (now() - t0) / 1000 };
}

// ---- statistics -----------------------------------------------------------------------
export interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles, rounded to µs (lib.mjs `percentiles`). */
export function percentiles(arr: readonly number[]): Percentiles | undefined {
  if (arr.length === 0) return undefined;
  const a = Float64Array.from(arr).sort();
  const q = (p: number): number => a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)]!;
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  return { n: a.length, p50: r3(q(50)), p95: r3(q(95)), p99: r3(q(99)), max: r3(a[a.length - 1]!) };
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median with min–max of the defined values, or undefined when there are none. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: ReadonlyArray<number | undefined>): Spread | undefined {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return undefined;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

// ---- CPU accounting -------------------------------------------------------------------
/** utime + stime of a process in seconds (/proc/<pid>/stat fields 14, 15; 10 ms ticks). */
export function procCpuS(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

export interface CpuMark {
  pids: Array<number | undefined>;
  client: NodeJS.CpuUsage;
  server: number | undefined;
}

export interface CpuSplit {
  clientCpuS: number;
  serverCpuS?: number;
}

/** CPU seconds of every process in `pids` together; undefined when one cannot be read. */
function sumCpuS(pids: ReadonlyArray<number | undefined>): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const s = procCpuS(pid);
    if (s === undefined) return undefined;
    total += s;
  }
  return total;
}

/**
 * `serverPid` and any `backendPids` (the Redis a redis-store server writes to) count as the
 * server: the CPU the system spends per message, whichever process spends it.
 */
export function cpuStart(serverPid: number | undefined, ...backendPids: number[]): CpuMark {
  const pids = [serverPid, ...backendPids];
  return { pids, client: process.cpuUsage(), server: sumCpuS(pids) };
}

export function cpuEnd(c0: CpuMark): CpuSplit {
  const c = process.cpuUsage(c0.client);
  const s1 = sumCpuS(c0.pids);
  const out: CpuSplit = { clientCpuS: round((c.user + c.system) / 1e6, 2) };
  if (s1 !== undefined && c0.server !== undefined) out.serverCpuS = round(s1 - c0.server, 2);
  return out;
}

/** Rejects after `ms` naming `what`; the timer does not hold the process. */
export function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * The part of a run's result every driver (svc-mailbox and each peer) reports the same way:
 * A's rates or B's latencies, and the delivery checks.
 */
export function measuredFields(
  workload: 'A' | 'B' | string,
  tracker: Tracker,
  t: { n: number; t0: number; tProducerDone: number; tEnd: number; sendSeconds?: number },
): {
  seconds: number; msgsPerSec?: number; producerConfirmedPerSec?: number; latencyMs?: Percentiles; sendSeconds?: number;
  delivered: number; unique: number; duplicates: number; missing: number;
} {
  const elapsed = (t.tEnd - t.t0) / 1000;
  return {
    seconds: round(elapsed, 3),
    ...(workload === 'A' ? { msgsPerSec: Math.round(t.n / elapsed), producerConfirmedPerSec: Math.round(t.n / ((t.tProducerDone - t.t0) / 1000)) } : {}),
    ...(workload === 'B' ? { latencyMs: percentiles(tracker.lat)!, sendSeconds: round(t.sendSeconds ?? 0, 3) } : {}),
    delivered: tracker.total,
    unique: tracker.unique,
    duplicates: tracker.dups,
    missing: tracker.missing(),
  };
}
