/**
 * The kill-actors workload, end to end: a mailbox under producers, consumers and a kill loop,
 * then a settle phase, then the accounting. The integration test and the drills run this same
 * code with different sizes.
 */
import { createMailbox, type TreeNode } from '../src/index.ts';
import type { DeepPartial, MailboxConfig } from '../src/config/config.ts';
import { SeededRng, type Rng } from '../src/domain/clock.ts';
import type { MailboxRuntime } from '../src/runtime/mailbox.ts';
import type { RuntimeOptions } from '../src/runtime/create-mailbox.ts';
import { Consumer, SessionKeeper, produce, sleep, topicOf } from './actors.ts';
import { startKillLoop, type KillCounts } from './kill-loop.ts';
import { latencyStore } from './latency-store.ts';
import { listAllDlq, liveMessages, shardNodes, waitUntil } from './inspect.ts';
import { Ledger } from './ledger.ts';
import { runtimeSource, type Timeline } from './timeline.ts';

export { listAllDlq, liveMessages, shardNodes, waitUntil };

export interface ChaosOptions {
  shards: number;
  messages: number;
  topics: number;
  producers: number;
  /** Consumers pulling with RECV; plus `subscribers` consuming by push. */
  consumers: number;
  subscribers: number;
  batch: number;
  killEveryMs: number;
  /** The kill loop runs until the producers are done and at least this long. */
  chaosMs: number;
  maxAttempts: number;
  /** Give up on settling after this long (the run then reports what is left). */
  settleTimeoutMs: number;
  seed: number;
}

export const DEFAULT_CHAOS: ChaosOptions = {
  shards: 8, messages: 20_000, topics: 200, producers: 2, consumers: 2, subscribers: 1, batch: 100,
  killEveryMs: 50, chaosMs: 0, maxAttempts: 5, settleTimeoutMs: 60_000, seed: 1,
};

/** A mailbox for drills: RAM only, silent, quick retries, a supervision budget that chaos cannot exhaust. */
export function chaosConfig(o: Pick<ChaosOptions, 'shards' | 'maxAttempts'>, extra: DeepPartial<MailboxConfig> = {}): DeepPartial<MailboxConfig> {
  return {
    amnesia: true,
    logLevel: 'silent',
    shards: o.shards,
    ...extra,
    queue: { maxAttempts: o.maxAttempts, backoffBaseMs: 5, backoffMaxMs: 50, defaultVisibilityMs: 500, ...extra.queue },
    supervision: { intensity: 10_000, periodMs: 60_000, restartBaseMs: 2, restartMaxMs: 50, resetAfterMs: 1_000, ...extra.supervision },
  };
}

/**
 * A store with disk-like latency (see latency-store.ts), and: shard flapping sheds every write while a kill loop runs (that is the readiness test's
 * subject); these drills want writes under fire, so flapping does not degrade them.
 */
export function chaosRuntime(options: { paged?: boolean } = {}): RuntimeOptions {
  return { readiness: { flapThreshold: 1_000_000 }, store: latencyStore(options) };
}

export interface ChaosReport {
  accepted: number;
  acked: number;
  dlq: number;
  lost: number;
  orphans: number;
  badDlq: number;
  /** Messages both in the DLQ and reported acknowledged (must stay 0). */
  ackedDead: number;
  deliveries: number;
  duplicates: number;
  afterAck: number;
  idemMismatches: number;
  staleLeases: number;
  kills: number;
  killsNotFound: number;
  shardKills: number;
  sessionKills: number;
  dlqKills: number;
  shardRestarts: number;
  sessionsReopened: number;
  sendRetries: number;
  leftInShards: number;
  settled: boolean;
  elapsedMs: number;
  /** A few examples of what went wrong, for the failure message. */
  samples: string[];
}

/** Runs the workload against `mb` (which the caller created with chaosConfig) and accounts for every message. */
export async function runChaos(mb: MailboxRuntime, o: ChaosOptions, log: (line: string) => void = () => {}, timeline?: Timeline): Promise<ChaosReport> {
  const started = Date.now();
  const rng: Rng = new SeededRng(o.seed);
  const ledger = new Ledger();
  timeline?.watch(runtimeSource(mb, ledger));
  const topics = Array.from({ length: o.topics }, (_, i) => topicOf(i, o.topics));
  const consumers = [
    ...Array.from({ length: o.consumers }, () => new Consumer(mb, ledger, new SeededRng(Math.floor(rng.next() * 2 ** 31)), topics, 'recv')),
    ...Array.from({ length: o.subscribers }, () => new Consumer(mb, ledger, new SeededRng(Math.floor(rng.next() * 2 ** 31)), topics, 'subscribe')),
  ].map((c) => c.start());
  const killer = startKillLoop(mb, new SeededRng(Math.floor(rng.next() * 2 ** 31)), { everyMs: o.killEveryMs, shards: o.shards });
  timeline?.mark('faultStart');

  // The DLQ actor gets work while it is being killed too.
  const dlqWatch = { stop: false, done: Promise.resolve() };
  dlqWatch.done = (async () => {
    while (!dlqWatch.stop) {
      await listAllDlq(mb);
      await sleep(100);
    }
  })();

  const per = Math.ceil(o.messages / o.producers);
  const keepers = Array.from({ length: o.producers }, () => new SessionKeeper(mb));
  const produced = await Promise.all(
    keepers.map((k, p) => produce(k, ledger, { from: p * per, to: Math.min(o.messages, (p + 1) * per), topics: o.topics, batch: o.batch })),
  );
  log(`produced ${ledger.byKey.size} in ${Date.now() - started} ms`);
  await sleep(Math.max(0, started + o.chaosMs - Date.now()));
  const kills: KillCounts = await killer.stop();
  timeline?.mark('faultEnd');
  dlqWatch.stop = true;
  await dlqWatch.done;
  log(`kill loop stopped after ${kills.kills} kills`);

  // Settle: consumers go on until no shard holds a live message.
  const settled = await waitUntil(() => liveMessages(mb, o.shards) === 0, o.settleTimeoutMs, 50);
  await Promise.all(consumers.map((c) => c.stop()));
  await Promise.all(keepers.map((k) => k.close()));
  log(`settled=${settled} after ${Date.now() - started} ms`);

  const dlq = await listAllDlq(mb);
  const { lost, orphans, badDlq, ackedDead } = ledger.reconcile(dlq, o.maxAttempts);
  const counts = ledger.counts();
  const shardRestarts = shardNodes(mb.tree()).reduce((sum, n) => sum + n.restarts, 0);
  return {
    accepted: counts.accepted,
    acked: counts.acked,
    dlq: dlq.length,
    lost: lost.length,
    orphans: orphans.length,
    badDlq: badDlq.length,
    ackedDead: ackedDead.length,
    deliveries: counts.deliveries,
    duplicates: counts.duplicates,
    afterAck: counts.afterAck,
    idemMismatches: counts.idemMismatches,
    staleLeases: counts.staleLeases,
    kills: kills.kills,
    killsNotFound: kills.notFound,
    shardKills: kills.byKind.shard ?? 0,
    sessionKills: kills.byKind.session ?? 0,
    dlqKills: kills.byKind.dlq ?? 0,
    shardRestarts,
    sessionsReopened: consumers.reduce((sum, c) => sum + c.reopened, 0) + keepers.reduce((sum, k) => sum + k.reopened, 0),
    sendRetries: produced.reduce((sum, p) => sum + p.retries, 0),
    leftInShards: liveMessages(mb, o.shards) ?? -1,
    settled,
    elapsedMs: Date.now() - started,
    samples: [...lost.slice(0, 3).map((id) => `lost ${id}`), ...orphans.slice(0, 3).map((id) => `orphan ${id}`), ...badDlq.slice(0, 3), ...ackedDead.slice(0, 3).map((id) => `acked and dead ${id}`), ...ledger.afterAckSamples],
  };
}

/** The promise of the kill drill, as one predicate over the report. */
export function chaosKept(r: ChaosReport, expected: number): boolean {
  return (
    r.settled && r.accepted === expected && r.lost === 0 && r.orphans === 0 && r.badDlq === 0 && r.ackedDead === 0 && r.afterAck === 0 &&
    r.idemMismatches === 0 && r.leftInShards === 0 && r.shardRestarts > 0
  );
}

/** Windows of a paged chaos mailbox: small enough that most of the backlog waits in the store. */
export const PAGED_WINDOWS = { queue: { readyWindow: 16, residentBudget: 32, dedupResident: 16 } };

/** Creates a chaos mailbox (`paged`: over a store that loads like LevelDB), runs the workload, stops the mailbox. */
export async function withChaosMailbox(o: ChaosOptions, log?: (line: string) => void, paged = false, timeline?: Timeline): Promise<{ report: ChaosReport; tree: TreeNode }> {
  const mb = await createMailbox(chaosConfig(o, paged ? PAGED_WINDOWS : {}), chaosRuntime({ paged }));
  try {
    const report = await runChaos(mb, o, log, timeline);
    return { report, tree: mb.tree() };
  } finally {
    await mb.stop();
  }
}
