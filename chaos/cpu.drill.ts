/**
 * Write shedding under CPU pressure: a real server process on LevelDB burns ~60% of a core on
 * its main thread (the `cpu` fault of `mailbox chaos inject`, over the admin port) while SDK
 * producers and consumers go on over real sockets. The overload detector (event-loop delay p99
 * above `overloadLagMs` for 3 one-second windows) must degrade readiness, which sheds SENDs
 * (`rejected_total{reason="degraded"}`) while ACKs go on; once the burn ends readiness returns.
 *
 * The burn works in slices of 100 ms, busy for 60 of them: event-loop delay p99 is then about
 * 60 ms, so the drill starts the server with `overloadLagMs` 40 (the default, 1 s, is for
 * stalls, and a 60 % burn never reaches it).
 */
import type { MailboxClient } from '../src/client/index.ts';
import { sleep } from './actors.ts';
import type { Drill } from './drill.ts';
import { Ledger } from './ledger.ts';
import { ReadyzWatch, injectFault, percentile, seriesValue, startPressureLoad } from './pressure.ts';
import { listDlqRemote, startLevelServer, waitServerEmpty } from './remote.ts';
import { adminSource, type Timeline } from './timeline.ts';

export interface CpuOptions {
  percent: number;
  baselineMs: number;
  /** How long the burn lasts. */
  burnMs: number;
  /** Event-loop delay p99 (ms) that marks the server overloaded (config overloadLagMs). */
  lagMs: number;
  /** The p95 of admitted requests under the burn may exceed the baseline's by max(25 %, this many ms). */
  floorMs: number;
  degradeWithinMs: number;
  recoverWithinMs: number;
  maxAttempts: number;
  log?: (line: string) => void;
  timeline?: Timeline;
}

export interface CpuReport {
  accepted: number;
  acked: number;
  dlq: number;
  lost: number;
  orphans: number;
  afterAck: number;
  /** ms from the injection to /readyz saying degraded (undefined: never). */
  degradedAfterMs: number | undefined;
  degradedReason: string;
  /** ms from the end of the burn to /readyz 200 again (undefined: not within recoverWithinMs). */
  readyAfterMs: number | undefined;
  rejectedDegraded: number;
  baselineP95: number;
  faultP95: number;
  boundP95: number;
  baselineSamples: number;
  faultSamples: number;
  settled: boolean;
  fatal: string[];
  elapsedMs: number;
  samples: string[];
}

export const DEFAULT_CPU: CpuOptions = {
  percent: 60, baselineMs: 3_000, burnMs: 8_000, lagMs: 40, floorMs: 100, degradeWithinMs: 5_000, recoverWithinMs: 15_000, maxAttempts: 10,
};

export async function runCpu(o: CpuOptions): Promise<CpuReport> {
  const started = Date.now();
  const env = { MAILBOX_QUEUE__MAX_ATTEMPTS: String(o.maxAttempts), MAILBOX_CHAOS__ENABLED: 'on', MAILBOX_OVERLOAD_LAG_MS: String(o.lagMs) };
  const { server, close } = await startLevelServer({ env, prefix: 'mailbox-cpu-' });
  const clients: MailboxClient[] = [];
  const watch = new ReadyzWatch(server.adminUrl);
  try {
    const ledger = new Ledger();
    o.timeline?.watch(adminSource(server.adminUrl, ledger));
    // Admitted requests: SEND batches accepted whole and ACKs, timed from the client.
    const { times, consumers, acking, produced, stop: stopProducing } = await startPressureLoad(server.url, ledger, 'cpu', clients);

    await sleep(o.baselineMs);
    const rejectedBefore = await seriesValue(server.adminUrl, 'rejected_total', 'reason', 'degraded');
    times.phase = 'fault';
    watch.reset();
    const injectedAt = performance.now();
    await injectFault(server.adminUrl, { fault: 'cpu', durationMs: o.burnMs, percent: o.percent });
    o.timeline?.mark('faultStart');
    o.log?.(`cpu ${o.percent}% injected for ${o.burnMs} ms after ${ledger.byKey.size} accepted`);
    await sleep(o.burnMs);
    const burnEnded = injectedAt + o.burnMs;
    times.phase = 'recovery';
    o.timeline?.mark('faultEnd');
    const degradedAt = watch.seenAt('degraded');
    const degradedReason = watch.reasons.join('; ') || (degradedAt === undefined ? 'never degraded' : '');
    watch.reset();
    const deadline = performance.now() + o.recoverWithinMs;
    while (watch.state !== 'ready' && performance.now() < deadline) await sleep(50);
    const readyAt = watch.state === 'ready' ? (watch.seenAt('ready') ?? performance.now()) : undefined;
    const rejectedDegraded = (await seriesValue(server.adminUrl, 'rejected_total', 'reason', 'degraded')) - rejectedBefore;
    o.log?.(`burn over; ready again after ${readyAt === undefined ? 'never' : Math.round(readyAt - burnEnded)} ms`);

    // A little load after recovery, then the producer stops and the consumers drain.
    await sleep(500);
    stopProducing();
    const { fatal } = await produced;
    const settled = await waitServerEmpty(server, 30_000);
    await Promise.all(acking.map((a) => a.idle()));
    const dlq = await listDlqRemote(consumers[0]!);
    const r = ledger.reconcile(dlq, o.maxAttempts);
    const counts = ledger.counts();
    const baselineP95 = percentile(times.get('baseline'), 95);
    const faultP95 = percentile(times.get('fault'), 95);
    return {
      accepted: counts.accepted, acked: counts.acked, dlq: dlq.length, lost: r.lost.length, orphans: r.orphans.length, afterAck: counts.afterAck,
      degradedAfterMs: degradedAt === undefined ? undefined : degradedAt - injectedAt, degradedReason,
      readyAfterMs: readyAt === undefined ? undefined : Math.max(0, readyAt - burnEnded), rejectedDegraded,
      baselineP95, faultP95, boundP95: baselineP95 + Math.max(0.25 * baselineP95, o.floorMs),
      baselineSamples: times.get('baseline').length, faultSamples: times.get('fault').length,
      settled, fatal, elapsedMs: Date.now() - started,
      samples: [...r.lost.slice(0, 3).map((id) => `lost ${id}`), ...r.orphans.slice(0, 3).map((id) => `orphan ${id}`), ...fatal.slice(0, 3), ...ledger.afterAckSamples],
    };
  } finally {
    await watch.stop();
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await close();
  }
}

export function cpuKept(r: CpuReport, o: Pick<CpuOptions, 'degradeWithinMs'>): boolean {
  return r.settled && r.accepted > 0 && r.lost === 0 && r.orphans === 0 && r.afterAck === 0 && r.fatal.length === 0 &&
    r.acked + r.dlq === r.accepted && r.degradedAfterMs !== undefined && r.degradedAfterMs <= o.degradeWithinMs &&
    r.rejectedDegraded > 0 && r.readyAfterMs !== undefined && r.faultSamples > 0 && r.faultP95 <= r.boundP95;
}

const round = (ms: number | undefined): number | string => (ms === undefined || Number.isNaN(ms) ? 'never' : Math.round(ms));

export const drill: Drill = {
  name: 'cpu',
  promise: 'A server burning 60% of a core (chaos inject --fault=cpu) under SDK load goes degraded on /readyz within 5 s, sheds SENDs (rejected_total{reason="degraded"} rises), keeps the p95 of admitted requests (whole SEND batches, ACKs) within baseline + max(25%, 100 ms: one 60 ms busy slice of the in-thread burn, which any request may wait behind, plus 40 ms for a shared 2-core machine), is ready again after the burn, and loses nothing.',
  async run(opts) {
    const o: CpuOptions = {
      ...DEFAULT_CPU, burnMs: opts.durationMs ?? DEFAULT_CPU.burnMs,
      ...(opts.log ? { log: opts.log } : {}), ...(opts.timeline ? { timeline: opts.timeline } : {}),
    };
    const r = await runCpu(o);
    return {
      kept: cpuKept(r, o),
      details: {
        accepted: r.accepted, acked: r.acked, dlq: r.dlq, lost: r.lost, orphans: r.orphans, degradedAfterMs: round(r.degradedAfterMs),
        rejectedDegraded: r.rejectedDegraded, baselineP95Ms: round(r.baselineP95), faultP95Ms: round(r.faultP95), boundP95Ms: round(r.boundP95),
        readyAfterMs: round(r.readyAfterMs), overloadLagMs: o.lagMs, reason: r.degradedReason, elapsedMs: r.elapsedMs,
        ...(r.samples.length ? { samples: r.samples.join('; ') } : {}),
      },
    };
  },
};
