/**
 * The A/B driver every peer shares, as each peers-bench script does it: a publish window
 * (A) or the 1 ms pacer (B), a Tracker on the consumer side, CPU of this process and of the
 * server's PID, an end barrier that proves the acks reached the server, then (untimed) the
 * server-side check. A peer only supplies a `PeerSession`.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import {
  Tracker, Window, cpuEnd, cpuStart, deadline, makePayload, measuredFields, now, paced, readSeq, readTs,
} from '../lib.ts';
import type { BenchOptions, RunResult } from '../types.ts';

export interface PeerSession {
  /** Resolves on the server's publish confirmation. */
  publish(seq: number, payload: Buffer): Promise<unknown>;
  /** Starts consuming; `record` is called with each message body, which is then acked. */
  consume(record: (body: Uint8Array) => void): Promise<void>;
  /** After every id was seen: resolves once the acks have reached the server. */
  barrier(): Promise<void>;
  /** Socket back-pressure, if the client has any (RabbitMQ). */
  writable?(): Promise<void> | undefined;
  /** Untimed: what the server still holds (all zero = clean). */
  verify(): Promise<Record<string, number>>;
  /** Closes connections and deletes the stream / queue. */
  close(): Promise<void>;
  info?: Record<string, unknown>;
}

export interface PeerVariant<E> {
  system: string;
  variant: string;
  run(env: E, workload: 'A' | 'B', run: number, opts: BenchOptions, progress: (done: number, total: number) => void): Promise<RunResult>;
}

export interface PeerGroup<E = unknown> {
  name: string;
  variants: Array<PeerVariant<E>>;
  setup(): Promise<E>;
  teardown(env: E): Promise<void>;
}

const RETRIES = 5;

/** A name no earlier run used: streams and queues are created and deleted per run. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid.toString(36)}_${Date.now().toString(36)}`;
}

export async function runPeerLoad(
  id: { system: string; variant: string; serverPid: number | undefined },
  session: PeerSession, workload: 'A' | 'B', run: number, opts: BenchOptions, progress: (done: number, total: number) => void,
): Promise<RunResult> {
  const total = workload === 'A' ? opts.count : Math.round(opts.rate * (opts.seconds + opts.warmupSeconds));
  const tracker = new Tracker(total);
  if (workload === 'B') tracker.latencyFrom = Math.round(opts.rate * opts.warmupSeconds);
  let errorText: string | undefined;
  try {
    await session.consume((body) => void tracker.record(readSeq(body), workload === 'B' ? readTs(body) : undefined));
    const report = setInterval(() => progress(tracker.unique, total), 200);
    report.unref();
    const win = new Window(opts.window);
    let pubErrors = 0;
    const publish = (seq: number, tries = 0): void => {
      session.publish(seq, makePayload(seq, opts.payload)).then(
        () => win.release(),
        (err: Error) => {
          pubErrors++;
          if (tries < RETRIES) publish(seq, tries + 1);
          else {
            errorText ??= err.message;
            win.release();
          }
        },
      );
    };
    const c0 = cpuStart(id.serverPid);
    const t0 = now();
    let sendSeconds: number | undefined;
    if (workload === 'A') {
      for (let i = 0; i < total; i++) {
        const w = win.acquire();
        if (w) await w;
        const bp = session.writable?.();
        if (bp) await bp;
        publish(i);
      }
    } else {
      sendSeconds = (await paced(opts.rate, opts.seconds + opts.warmupSeconds, (i) => {
        const w = win.acquire();
        if (!w) return void publish(i);
        return w.then(() => publish(i));
      })).sendSeconds;
    }
    await win.drain();
    const tProducerDone = now();
    await deadline(tracker.done, opts.timeoutS * 1000, `${id.system} ${id.variant} ${workload}: waiting for deliveries (${tracker.unique}/${total})`);
    await session.barrier();
    const tEnd = now();
    const cpu = cpuEnd(c0);
    clearInterval(report);
    progress(tracker.unique, total);
    const serverAfter = await session.verify();
    return {
      system: id.system,
      variant: id.variant,
      workload,
      run,
      n: total,
      size: opts.payload,
      window: opts.window,
      cpu,
      ...measuredFields(workload, tracker, { n: total, t0, tProducerDone, tEnd, sendSeconds }),
      pubErrors,
      serverAfter,
      ...(session.info ? { info: session.info } : {}),
      ...(errorText ? { error: errorText } : {}),
    };
  } finally {
    await session.close().catch(() => {});
  }
}

/**
 * The PID of the process listening on 127.0.0.1:`port` (for server CPU of the machine's own
 * NATS, Redis and RabbitMQ): the socket inode from /proc/net/tcp, then the /proc/<pid>/fd
 * that holds it. Read-only; undefined when it cannot be found (CPU then shows "?").
 */
export function pidListening(port: number): number | undefined {
  let inode: string | undefined;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(f[1]!.split(':')[1]!, 16) === port) inode = f[9];
    }
    if (inode) break;
  }
  if (!inode || inode === '0') return undefined;
  const target = `socket:[${inode}]`;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return Number(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}
