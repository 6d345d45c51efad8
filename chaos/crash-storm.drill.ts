/**
 * A consumer crash storm: several consumer processes (chaos/consumer-process.ts, SDK clients)
 * share the topics of a real server process; half of them are killed with SIGKILL mid-load and
 * the survivors must drain everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { MailboxClient } from '../src/client/index.ts';
import type { MsgId } from '../src/index.ts';
import { ROOT, TSX } from '../test/durability/child.ts';
import { sleep } from './actors.ts';
import type { ConsumerMessage } from './consumer-process.ts';
import type { Drill } from './drill.ts';
import { waitUntil } from './inspect.ts';
import { Ledger } from './ledger.ts';
import { clientOptions, listDlqRemote, metricSum, produceRemote, startLevelServer, waitServerEmpty } from './remote.ts';
import { adminSource, type Timeline } from './timeline.ts';

export interface CrashStormOptions {
  consumers: number;
  messages: number;
  topics: number;
  prefetch: number;
  visibilityMs: number;
  /** Half the consumers are killed once this share of the messages has been delivered. */
  killAt: number;
  maxAttempts: number;
  settleTimeoutMs: number;
  /** After the drain, visibility_timeouts_total must not move for this long (at least one visibility). */
  quietMs: number;
  log?: (line: string) => void;
  timeline?: Timeline;
}

export interface CrashStormReport {
  accepted: number;
  acked: number;
  ackUnconfirmed: number;
  dlq: number;
  lost: number;
  orphans: number;
  afterAck: number;
  deliveries: number;
  duplicates: number;
  killed: number;
  survivors: number;
  /** Deliveries when the kill came, and acked by the survivors after it. */
  deliveredAtKill: number;
  ackedBySurvivors: number;
  requeued: number;
  requeuedShare: number;
  visibilityTimeouts: number;
  /** visibility_timeouts_total growth during the quiet window after the drain (must be 0). */
  visibilityAfterDrain: number;
  settled: boolean;
  elapsedMs: number;
  samples: string[];
}

/** What a consumer process spends per message before its ACK. */
const WORK_MS = 20;

interface ConsumerChild {
  child: ChildProcess;
  exited: Promise<unknown>;
  killed: boolean;
  /** msgIds this process reported before ACKing them. */
  tried: Set<string>;
}

function spawnConsumer(url: string, topics: readonly string[], o: CrashStormOptions, onMessage: (m: ConsumerMessage, c: ConsumerChild) => void): ConsumerChild {
  const script = join(ROOT, 'chaos', 'consumer-process.ts');
  // 20 ms of work per message: every delivery holds its lease at least that long, so at the kill
  // each busy consumer holds about (its share of the message rate) × 20 ms leases. With 1 ms a
  // consumer that kept up was idle most of the time, and a kill could find no lease open at all
  // (requeued 0: the drill's "requeued_total rises" failed on a quiet machine, 2026-12-03).
  const child = spawn(process.execPath, ['--import', TSX, script, url, topics.join(','), String(o.prefetch), String(o.visibilityMs), String(WORK_MS)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const c: ConsumerChild = { child, exited: once(child, 'exit'), killed: false, tried: new Set() };
  child.on('message', (m) => onMessage(m as ConsumerMessage, c));
  return c;
}

export async function runCrashStorm(o: CrashStormOptions): Promise<CrashStormReport> {
  const started = Date.now();
  const { server, close } = await startLevelServer({ env: { MAILBOX_QUEUE__MAX_ATTEMPTS: String(o.maxAttempts) }, prefix: 'mailbox-storm-' });
  const clients: MailboxClient[] = [];
  const children: ConsumerChild[] = [];
  try {
    const ledger = new Ledger();
    o.timeline?.watch(adminSource(server.adminUrl, ledger));
    const topics = Array.from({ length: o.topics }, (_, i) => `storm:${i}`);
    let ready = 0;
    let killedAfter = false;
    let ackedBySurvivors = 0;
    const onMessage = (m: ConsumerMessage, c: ConsumerChild): void => {
      if (m.t === 'ready') ready++;
      else if (m.t === 'tried') {
        for (const [msgId, leaseId, attempt] of m.d) {
          ledger.delivery({ msgId: msgId as MsgId, leaseId: leaseId as never, attempt });
          c.tried.add(msgId);
        }
      } else {
        for (const [msgId, leaseId, attempt] of m.d) ledger.ackSucceeded(msgId as MsgId, leaseId, attempt);
        if (killedAfter && !c.killed) ackedBySurvivors += m.d.length;
      }
    };
    // Every consumer subscribes to every topic, so the survivors can drain all of them.
    for (let i = 0; i < o.consumers; i++) children.push(spawnConsumer(server.url, topics, o, onMessage));
    if (!(await waitUntil(() => ready === o.consumers, 60_000, 20))) throw new Error(`only ${ready} of ${o.consumers} consumer processes started`);
    const requeuedBefore = await metricSum(server, 'requeued_total');
    const visibilityBefore = await metricSum(server, 'visibility_timeouts_total');

    const producers = await Promise.all([0, 1].map(async () => {
      const c = await MailboxClient.connect(server.url, clientOptions());
      clients.push(c);
      return c;
    }));
    const producing = Promise.all(producers.map((c, p) => produceRemote(c, ledger, { from: p, step: 2, to: o.messages, topics, batch: 100, pauseMs: 5 })));
    producing.catch(() => {}); // awaited below; a failure meanwhile must not become an unhandled rejection

    await waitUntil(() => ledger.deliveries >= o.messages * o.killAt, o.settleTimeoutMs, 10);
    const deliveredAtKill = ledger.deliveries;
    const victims = children.slice(0, Math.floor(o.consumers / 2));
    o.timeline?.mark('faultStart');
    for (const v of victims) {
      v.killed = true;
      v.child.kill('SIGKILL');
    }
    killedAfter = true;
    await Promise.all(victims.map((v) => v.exited));
    o.timeline?.mark('faultEnd');
    o.log?.(`killed ${victims.length} of ${o.consumers} consumer processes after ${deliveredAtKill} deliveries`);
    const produced = await producing;

    const settled = await waitServerEmpty(server, o.settleTimeoutMs);
    // The survivors report their ACKs every 20 ms: wait until each message is accounted for (only
    // a killed process can have taken an ACK's answer with it).
    const dlq = await listDlqRemote(producers[0]!);
    const dead = new Set<string>(dlq.map((e) => e.msgId));
    const byKilled = (id: string): boolean => victims.some((v) => v.tried.has(id));
    await waitUntil(() => [...ledger.byKey.values()].every((id) => ledger.acked.has(id) || dead.has(id) || byKilled(id)), 10_000, 20);
    const visibilityAtDrain = await metricSum(server, 'visibility_timeouts_total');
    await sleep(o.quietMs);
    const visibilityAfter = await metricSum(server, 'visibility_timeouts_total');
    const requeued = (await metricSum(server, 'requeued_total')) - requeuedBefore;

    const r = ledger.reconcile(dlq, o.maxAttempts);
    const unconfirmed = settled ? r.lost.filter(byKilled) : [];
    const lost = r.lost.filter((id) => !unconfirmed.includes(id));
    const counts = ledger.counts();
    return {
      accepted: counts.accepted, acked: counts.acked, ackUnconfirmed: unconfirmed.length, dlq: dlq.length, lost: lost.length,
      orphans: r.orphans.length, afterAck: counts.afterAck, deliveries: counts.deliveries, duplicates: counts.duplicates,
      killed: victims.length, survivors: o.consumers - victims.length, deliveredAtKill, ackedBySurvivors, requeued,
      requeuedShare: counts.deliveries > 0 ? requeued / counts.deliveries : 0,
      visibilityTimeouts: visibilityAfter - visibilityBefore, visibilityAfterDrain: visibilityAfter - visibilityAtDrain,
      settled, elapsedMs: Date.now() - started,
      samples: [...lost.slice(0, 3).map((id) => `lost ${id}`), ...r.orphans.slice(0, 3).map((id) => `orphan ${id}`), ...r.badDlq.slice(0, 3),
        ...produced.flatMap((p) => p.refused).slice(0, 3), ...ledger.afterAckSamples],
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await close();
  }
}

export function crashStormKept(r: CrashStormReport, expected: number): boolean {
  return r.settled && r.accepted === expected && r.lost === 0 && r.orphans === 0 && r.afterAck === 0 &&
    r.acked + r.ackUnconfirmed + r.dlq === r.accepted && r.requeued > 0 && r.requeuedShare < 0.05 && r.visibilityAfterDrain === 0 &&
    r.ackedBySurvivors > 0;
}

export const drill: Drill = {
  name: 'crash-storm',
  promise: 'Half of the consumer processes killed with SIGKILL mid-load: requeued_total rises but stays under 5% of deliveries, visibility_timeouts_total stops growing after recovery, the surviving consumers drain everything and nothing is lost.',
  async run(opts) {
    const o: CrashStormOptions = {
      consumers: 6, messages: opts.messages ?? 60_000, topics: 16, prefetch: 32, visibilityMs: 10_000, killAt: 0.3, maxAttempts: 10,
      settleTimeoutMs: 120_000, quietMs: 2_500, ...(opts.log ? { log: opts.log } : {}), ...(opts.timeline ? { timeline: opts.timeline } : {}),
    };
    const r = await runCrashStorm(o);
    return {
      kept: crashStormKept(r, o.messages),
      details: {
        accepted: r.accepted, acked: r.acked, ackUnconfirmed: r.ackUnconfirmed, dlq: r.dlq, lost: r.lost, orphans: r.orphans,
        afterAck: r.afterAck, deliveries: r.deliveries, duplicates: r.duplicates, killed: r.killed, survivors: r.survivors,
        deliveredAtKill: r.deliveredAtKill, ackedBySurvivors: r.ackedBySurvivors, requeued: r.requeued,
        requeuedPct: (100 * r.requeuedShare).toFixed(2), visibilityTimeouts: r.visibilityTimeouts,
        visibilityAfterDrain: r.visibilityAfterDrain, elapsedMs: r.elapsedMs, ...(r.samples.length ? { samples: r.samples.join('; ') } : {}),
      },
    };
  },
};
