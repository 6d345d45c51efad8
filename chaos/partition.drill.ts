/**
 * A bus partition: the internal event bus drops every event for a while (bus.faults, in
 * process: the bus has no admin-port switch yet) while producers, consumers and shard crashes go
 * on. The bus feeds only the readiness gate and `/debug/events`; queues and push wake-ups do not
 * go through it, so enqueue and delivery must not notice.
 */
import { createMailbox } from '../src/index.ts';
import { SeededRng } from '../src/domain/clock.ts';
import { Consumer, SessionKeeper, produce, sleep, topicOf } from './actors.ts';
import type { Drill } from './drill.ts';
import { listAllDlq, liveMessages, shardServing, sumSeries, waitUntil } from './inspect.ts';
import { Ledger } from './ledger.ts';
import { runtimeSource, type Timeline } from './timeline.ts';
import { chaosConfig, chaosRuntime } from './workload.ts';

export interface PartitionOptions {
  messages: number;
  partitionMs: number;
  /** A shard is killed this often during the partition, so there are events to lose. */
  killEveryMs: number;
  shards: number;
  maxAttempts: number;
  seed: number;
  log?: (line: string) => void;
  timeline?: Timeline;
}

export interface PartitionReport {
  accepted: number;
  /** Accepted while the bus was down: enqueue went on. */
  acceptedDuring: number;
  /** ACKs that succeeded while the bus was down: deliveries (pull and push) went on. */
  ackedDuring: number;
  acked: number;
  dlq: number;
  lost: number;
  orphans: number;
  afterAck: number;
  shardKills: number;
  /** Events the partition dropped (bus.faults) and the rise of bus_overflow_dropped_total. */
  dropped: number;
  overflowMetric: number;
  /** Readiness states seen during the partition (it sees nothing, so it stays where it was). */
  readinessDuring: string;
  /** After the partition: a shard crash is seen by a bus subscriber again, and readiness is ready. */
  busResumed: boolean;
  readyAfter: boolean;
  settled: boolean;
  elapsedMs: number;
  samples: string[];
}

export async function runPartition(o: PartitionOptions): Promise<PartitionReport> {
  const started = Date.now();
  const mb = await createMailbox(chaosConfig(o), chaosRuntime());
  try {
    const rng = new SeededRng(o.seed);
    const ledger = new Ledger();
    o.timeline?.watch(runtimeSource(mb, ledger));
    const topics = Array.from({ length: 100 }, (_, i) => topicOf(i, 100));
    const seed = (): SeededRng => new SeededRng(Math.floor(rng.next() * 2 ** 31));
    const policy = { ack: 0.95, nack: 0.02, extend: 0.03, visibilityMs: [300, 600] as [number, number] };
    const consumers = [
      new Consumer(mb, ledger, seed(), topics, 'recv', policy).start(),
      new Consumer(mb, ledger, seed(), topics, 'subscribe', policy).start(),
    ];
    const keeper = new SessionKeeper(mb);
    const producing = produce(keeper, ledger, { from: 0, to: o.messages, topics: topics.length, batch: 50 });
    producing.catch(() => {}); // awaited below

    await waitUntil(() => ledger.byKey.size >= o.messages / 4, 60_000);
    const overflowBefore = sumSeries(await mb.metrics.render(), 'bus_overflow_dropped_total');
    const states = new Set<string>([mb.readiness().state]);
    const acceptedAt = ledger.byKey.size;
    const ackedAt = ledger.acked.size;
    mb.bus.faults.dropAll = true;
    o.timeline?.mark('faultStart');
    o.log?.(`bus partitioned at ${acceptedAt} accepted`);
    let shardKills = 0;
    const end = Date.now() + o.partitionMs;
    while (Date.now() < end) {
      await sleep(o.killEveryMs);
      states.add(mb.readiness().state);
      const shard = Math.floor(rng.next() * o.shards);
      if (!shardServing(mb, shard)) continue;
      await mb.kill(`/root/shards/shard-${shard}`, 'chaos');
      shardKills++;
    }
    states.add(mb.readiness().state);
    const acceptedDuring = ledger.byKey.size - acceptedAt;
    const ackedDuring = ledger.acked.size - ackedAt;
    const dropped = mb.bus.faults.dropped;
    mb.bus.faults.clear();
    o.timeline?.mark('faultEnd');
    o.log?.(`bus healed: ${acceptedDuring} accepted and ${ackedDuring} acked meanwhile, ${shardKills} shard kills, ${dropped} events dropped`);

    // The bus carries events again: the next shard crash reaches a subscriber.
    let seen = 0;
    const off = mb.bus.subscribe('ShardUp', () => seen++);
    await waitUntil(() => shardServing(mb, 0), 10_000);
    await mb.kill('/root/shards/shard-0', 'chaos');
    const busResumed = await waitUntil(() => seen > 0, 10_000);
    off();
    const readyAfter = await waitUntil(() => mb.readiness().state === 'ready', 10_000);

    await producing;
    const settled = await waitUntil(() => liveMessages(mb, o.shards) === 0, 60_000, 50);
    await Promise.all(consumers.map((c) => c.stop()));
    await keeper.close();
    const overflowMetric = sumSeries(await mb.metrics.render(), 'bus_overflow_dropped_total') - overflowBefore;
    const dlq = await listAllDlq(mb);
    const r = ledger.reconcile(dlq, o.maxAttempts);
    const counts = ledger.counts();
    return {
      accepted: counts.accepted, acceptedDuring, ackedDuring, acked: counts.acked, dlq: dlq.length, lost: r.lost.length,
      orphans: r.orphans.length, afterAck: counts.afterAck, shardKills, dropped, overflowMetric, readinessDuring: [...states].join(','),
      busResumed, readyAfter, settled, elapsedMs: Date.now() - started,
      samples: [...r.lost.slice(0, 3).map((id) => `lost ${id}`), ...r.orphans.slice(0, 3).map((id) => `orphan ${id}`), ...r.badDlq.slice(0, 3), ...ledger.afterAckSamples],
    };
  } finally {
    mb.bus.faults.clear();
    await mb.stop();
  }
}

/**
 * "No DLQ explosion": with NACKs at 2% and `maxAttempts` 5 a message dies only by bad luck, so
 * more than 0.5% dead-lettered means the partition made messages fail.
 */
export const DLQ_BOUND = 0.005;

export function partitionKept(r: PartitionReport, expected: number): boolean {
  return r.settled && r.accepted === expected && r.lost === 0 && r.orphans === 0 && r.afterAck === 0 && r.acceptedDuring > 0 &&
    r.ackedDuring > 0 && r.shardKills > 0 && r.dropped > 0 && r.overflowMetric >= r.dropped && r.busResumed && r.readyAfter &&
    r.dlq <= expected * DLQ_BOUND;
}

export const drill: Drill = {
  name: 'partition',
  promise: 'With the internal bus dropping every event for a while (in process; shards crashing meanwhile), SENDs and deliveries go on, readiness holds its state, bus_overflow_dropped_total counts the drops, events flow again afterwards, nothing is lost and the DLQ stays under 0.5%.',
  async run(opts) {
    const o: PartitionOptions = {
      messages: opts.messages ?? 40_000, partitionMs: opts.durationMs ?? 5_000, killEveryMs: 250, shards: 8, maxAttempts: 5,
      seed: opts.seed ?? 5, ...(opts.log ? { log: opts.log } : {}), ...(opts.timeline ? { timeline: opts.timeline } : {}),
    };
    const r = await runPartition(o);
    return {
      kept: partitionKept(r, o.messages),
      details: {
        accepted: r.accepted, acceptedDuring: r.acceptedDuring, ackedDuring: r.ackedDuring, acked: r.acked, dlq: r.dlq, lost: r.lost,
        afterAck: r.afterAck, shardKills: r.shardKills, dropped: r.dropped, overflowMetric: r.overflowMetric, readinessDuring: r.readinessDuring,
        busResumed: String(r.busResumed), readyAfter: String(r.readyAfter), elapsedMs: r.elapsedMs,
        ...(r.samples.length ? { samples: r.samples.join('; ') } : {}),
      },
    };
  },
};
