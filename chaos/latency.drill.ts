/**
 * Latency injected into a real server process on LevelDB under SDK load, over its admin port
 * (`chaos inject --fault=latency`): first into the store commits (`--target store`), then,
 * separately, into the server's WebSocket writes (`--target socket`). A slow store must shed
 * writes early: commit latency p99 above `overloadCommitMs` for 3 one-second windows degrades
 * readiness (SENDs refused as degraded, with retry-after) before they pile up behind the disk.
 * Slow sockets delay every reply and delivery; with leases far longer than the delay, requeues
 * stay bounded. Nothing is lost and the DLQ does not explode.
 */
import type { MailboxClient } from '../src/client/index.ts';
import { sleep } from './actors.ts';
import type { Drill } from './drill.ts';
import { Ledger } from './ledger.ts';
import { ReadyzWatch, injectFault, percentile, seriesValue, startPressureLoad } from './pressure.ts';
import { listDlqRemote, metricSum, startLevelServer, waitServerEmpty } from './remote.ts';
import { adminSource, type Timeline } from './timeline.ts';

export interface LatencyOptions {
  baselineMs: number;
  /** Store phase: every commit this much later, for this long. */
  storeDelayMs: number;
  storeMs: number;
  /** The bound the server runs with (config overloadCommitMs). */
  commitBoundMs: number;
  /** Socket phase: every WebSocket write this much later, for this long. */
  socketDelayMs: number;
  socketMs: number;
  /** Degraded within this long after the store latency began. */
  shedWithinMs: number;
  recoverWithinMs: number;
  maxAttempts: number;
  log?: (line: string) => void;
  timeline?: Timeline;
}

export const DEFAULT_LATENCY: LatencyOptions = {
  baselineMs: 2_000, storeDelayMs: 250, storeMs: 6_000, commitBoundMs: 100, socketDelayMs: 150, socketMs: 4_000,
  shedWithinMs: 5_000, recoverWithinMs: 15_000, maxAttempts: 10,
};

/** "No DLQ explosion": nothing here makes a message fail, so more than 0.5% dead-lettered means the latency did. */
export const LATENCY_DLQ_BOUND = 0.005;
/** "Bounded requeues": leases (5 s) far outlast the delays, so at most 5% of deliveries come back. */
export const LATENCY_REQUEUE_BOUND = 0.05;

export interface LatencyReport {
  accepted: number;
  acked: number;
  dlq: number;
  lost: number;
  orphans: number;
  afterAck: number;
  deliveries: number;
  requeued: number;
  visibilityTimeouts: number;
  /** ms from the store latency's start to /readyz degraded (undefined: never). */
  shedAfterMs: number | undefined;
  shedReason: string;
  rejectedDegraded: number;
  storeReadyAfterMs: number | undefined;
  socketReadyAfterMs: number | undefined;
  /** /readyz states seen during the socket phase. */
  socketStates: string;
  baselineP95: number;
  storeP95: number;
  socketP95: number;
  /** ops/alerts.yaml rules whose condition held during the drill (their `for:` aside). */
  alerts: string[];
  settled: boolean;
  fatal: string[];
  elapsedMs: number;
  samples: string[];
}

export async function runLatency(o: LatencyOptions): Promise<LatencyReport> {
  const started = Date.now();
  const env = {
    MAILBOX_QUEUE__MAX_ATTEMPTS: String(o.maxAttempts), MAILBOX_CHAOS__ENABLED: 'on', MAILBOX_OVERLOAD_COMMIT_MS: String(o.commitBoundMs),
  };
  const { server, close } = await startLevelServer({ env, prefix: 'mailbox-latency-' });
  const clients: MailboxClient[] = [];
  const watch = new ReadyzWatch(server.adminUrl);
  try {
    const ledger = new Ledger();
    o.timeline?.watch(adminSource(server.adminUrl, ledger));
    const { times, consumers, acking, produced, stop: stopProducing } = await startPressureLoad(server.url, ledger, 'latency', clients);
    const counter = (name: string): Promise<number> => metricSum(server, name);
    const requeuedBefore = await counter('requeued_total');
    const timeoutsBefore = await counter('visibility_timeouts_total');

    const untilReady = async (from: number): Promise<number | undefined> => {
      watch.reset();
      const deadline = performance.now() + o.recoverWithinMs;
      while (watch.state !== 'ready' && performance.now() < deadline) await sleep(50);
      return watch.state === 'ready' ? Math.max(0, (watch.seenAt('ready') ?? performance.now()) - from) : undefined;
    };

    await sleep(o.baselineMs);
    const rejectedBefore = await seriesValue(server.adminUrl, 'rejected_total', 'reason', 'degraded');

    // Store phase.
    times.phase = 'store';
    watch.reset();
    const storeAt = performance.now();
    await injectFault(server.adminUrl, { fault: 'latency', target: 'store', delayMs: o.storeDelayMs, durationMs: o.storeMs });
    o.timeline?.mark('faultStart');
    o.log?.(`store latency +${o.storeDelayMs} ms for ${o.storeMs} ms after ${ledger.byKey.size} accepted`);
    let shedReason = '';
    while (performance.now() < storeAt + o.storeMs) {
      if (watch.state === 'degraded' && !shedReason) shedReason = watch.reasons.join('; ');
      await sleep(50);
    }
    const degradedAt = watch.seenAt('degraded');
    const storeReadyAfterMs = await untilReady(storeAt + o.storeMs);
    const rejectedDegraded = (await seriesValue(server.adminUrl, 'rejected_total', 'reason', 'degraded')) - rejectedBefore;
    o.log?.(`store latency over: degraded ${degradedAt === undefined ? 'never' : `after ${Math.round(degradedAt - storeAt)} ms`}, ready again after ${storeReadyAfterMs ?? 'never'} ms`);

    // Socket phase.
    times.phase = 'socket';
    watch.reset();
    const socketAt = performance.now();
    await injectFault(server.adminUrl, { fault: 'latency', target: 'socket', delayMs: o.socketDelayMs, durationMs: o.socketMs });
    o.log?.(`socket latency +${o.socketDelayMs} ms for ${o.socketMs} ms`);
    await sleep(o.socketMs);
    const socketStates = ['ready', 'degraded', 'down'].filter((s) => watch.seenAt(s) !== undefined).join(',') || watch.state;
    const socketReadyAfterMs = await untilReady(socketAt + o.socketMs);
    times.phase = 'after';
    o.timeline?.mark('faultEnd');

    await sleep(500);
    stopProducing();
    const { fatal } = await produced;
    const settled = await waitServerEmpty(server, 30_000);
    await Promise.all(acking.map((a) => a.idle()));
    const dlq = await listDlqRemote(consumers[0]!);
    const r = ledger.reconcile(dlq, o.maxAttempts);
    const counts = ledger.counts();
    const requeued = (await counter('requeued_total')) - requeuedBefore;
    const visibilityTimeouts = (await counter('visibility_timeouts_total')) - timeoutsBefore;
    const storeP95 = percentile(times.get('store'), 95);
    const socketP95 = percentile(times.get('socket'), 95);
    // The rules of ops/alerts.yaml this drill's figures satisfy (over a 5-minute rate, and held
    // for their `for:`, the same latency in production would page).
    const alerts = [
      ...(rejectedDegraded > 0 ? ['MailboxDegraded'] : []),
      ...(Math.max(storeP95, socketP95) > 50 ? ['MailboxHighLatencyP99'] : []),
      ...(dlq.length > 0 ? ['MailboxDlqGrowing'] : []),
      ...(visibilityTimeouts > 0 ? ['MailboxVisibilityTimeoutSpike (if > 1/s)'] : []),
    ];
    return {
      accepted: counts.accepted, acked: counts.acked, dlq: dlq.length, lost: r.lost.length, orphans: r.orphans.length, afterAck: counts.afterAck,
      deliveries: counts.deliveries, requeued, visibilityTimeouts,
      shedAfterMs: degradedAt === undefined ? undefined : degradedAt - storeAt, shedReason: shedReason || 'never degraded', rejectedDegraded,
      storeReadyAfterMs, socketReadyAfterMs, socketStates,
      baselineP95: percentile(times.get('baseline'), 95), storeP95, socketP95, alerts, settled, fatal, elapsedMs: Date.now() - started,
      samples: [...r.lost.slice(0, 3).map((id) => `lost ${id}`), ...r.orphans.slice(0, 3).map((id) => `orphan ${id}`), ...fatal.slice(0, 3), ...ledger.afterAckSamples],
    };
  } finally {
    await watch.stop();
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await close();
  }
}

export function latencyKept(r: LatencyReport, o: Pick<LatencyOptions, 'shedWithinMs'>): boolean {
  return r.settled && r.accepted > 0 && r.lost === 0 && r.orphans === 0 && r.afterAck === 0 && r.fatal.length === 0 &&
    r.acked + r.dlq === r.accepted && r.dlq <= r.accepted * LATENCY_DLQ_BOUND && r.requeued <= r.deliveries * LATENCY_REQUEUE_BOUND &&
    r.shedAfterMs !== undefined && r.shedAfterMs <= o.shedWithinMs && /store commit latency/.test(r.shedReason) && r.rejectedDegraded > 0 &&
    r.storeReadyAfterMs !== undefined && r.socketReadyAfterMs !== undefined;
}

const round = (ms: number | undefined): number | string => (ms === undefined || Number.isNaN(ms) ? 'never' : Math.round(ms));

export const drill: Drill = {
  name: 'latency',
  promise: 'Store commits 250 ms slower (bound overloadCommitMs 100) shed SENDs early (/readyz degraded for store commit latency within 5 s, rejected_total{reason="degraded"} rises) and recover by themselves; then socket writes 150 ms slower; requeues stay under 5% of deliveries, the DLQ under 0.5%, nothing is lost; details name the alerts of ops/alerts.yaml that would fire.',
  async run(opts) {
    const o: LatencyOptions = {
      ...DEFAULT_LATENCY, ...(opts.durationMs !== undefined ? { storeMs: opts.durationMs, socketMs: opts.durationMs } : {}),
      ...(opts.log ? { log: opts.log } : {}), ...(opts.timeline ? { timeline: opts.timeline } : {}),
    };
    const r = await runLatency(o);
    return {
      kept: latencyKept(r, o),
      details: {
        accepted: r.accepted, acked: r.acked, dlq: r.dlq, lost: r.lost, orphans: r.orphans, deliveries: r.deliveries, requeued: r.requeued,
        visibilityTimeouts: r.visibilityTimeouts, shedAfterMs: round(r.shedAfterMs), reason: r.shedReason, rejectedDegraded: r.rejectedDegraded,
        storeReadyAfterMs: round(r.storeReadyAfterMs), socketStates: r.socketStates, socketReadyAfterMs: round(r.socketReadyAfterMs),
        baselineP95Ms: round(r.baselineP95), storeP95Ms: round(r.storeP95), socketP95Ms: round(r.socketP95),
        alerts: r.alerts.join(',') || 'none', elapsedMs: r.elapsedMs, ...(r.samples.length ? { samples: r.samples.join('; ') } : {}),
      },
    };
  },
};
