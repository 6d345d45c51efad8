/**
 * The whole server process killed with SIGKILL and started again on the same LevelDB directory
 * and ports, again and again, while SDK producers and consumers keep going over real sockets.
 */
import { MailboxClient } from '../src/client/index.ts';
import { SeededRng } from '../src/domain/clock.ts';
import { sleep } from './actors.ts';
import type { Drill } from './drill.ts';
import { Ledger } from './ledger.ts';
import { ackingConsumer, clientOptions, listDlqRemote, produceRemote, spread, startLevelServer, waitServerEmpty } from './remote.ts';
import { adminSource, type Timeline } from './timeline.ts';

export interface Kill9Options {
  /** Kills at least this many times, and keeps killing until `durationMs` has passed. */
  kills: number;
  durationMs: number;
  /** At most this many messages are sent (the producers also stop when the kills are done). */
  messages: number;
  /** A kill comes this long (uniform in [lo, hi) ms) after the server was ready again. */
  gapMs: [number, number];
  producers: number;
  topics: number;
  maxAttempts: number;
  settleTimeoutMs: number;
  seed: number;
  /** Extra `serve` flags (a test passes `--amnesia` to watch the promise break). */
  serverArgs?: string[];
  log?: (line: string) => void;
  timeline?: Timeline;
}

export interface Kill9Report {
  accepted: number;
  acked: number;
  /** Delivered, ACK sent as the server died (no answer), and the server holds it no more: consumed. */
  ackUnconfirmed: number;
  dlq: number;
  dlqReasons: string;
  lost: number;
  orphans: number;
  badDlq: number;
  afterAck: number;
  idemMismatches: number;
  deliveries: number;
  duplicates: number;
  kills: number;
  /** ms from spawn to /readyz 200 after each restart. */
  readyMs: number[];
  sendRetries: number;
  refused: number;
  settled: boolean;
  elapsedMs: number;
  samples: string[];
}

export async function runKill9(o: Kill9Options): Promise<Kill9Report> {
  const started = Date.now();
  const rng = new SeededRng(o.seed);
  const env = { MAILBOX_QUEUE__MAX_ATTEMPTS: String(o.maxAttempts) };
  const { server, close } = await startLevelServer({ env, prefix: 'mailbox-kill9-', ...(o.serverArgs ? { args: o.serverArgs } : {}) });
  const clients: MailboxClient[] = [];
  try {
    const ledger = new Ledger();
    o.timeline?.watch(adminSource(server.adminUrl, ledger));
    const inDoubt = new Set<string>();
    const topics = Array.from({ length: o.topics }, (_, i) => `kill9:${i}`);
    const connect = async (): Promise<MailboxClient> => {
      const c = await MailboxClient.connect(server.url, clientOptions());
      clients.push(c);
      return c;
    };
    const consumers = [await connect(), await connect()];
    const acking = consumers.map((c, i) => ackingConsumer(c, ledger, topics.filter((_, k) => k % consumers.length === i), inDoubt));

    // Connected before the first kill: a first connect does not retry (reconnects do).
    const producers = await Promise.all(Array.from({ length: o.producers }, () => connect()));
    let killing = true;
    const producing = Promise.all(
      producers.map((c, p) => produceRemote(c, ledger, { from: p, step: o.producers, to: o.messages, topics, batch: 100, pauseMs: 10, stop: () => !killing })),
    );
    // Awaited after the kills; a failure meanwhile must not become an unhandled rejection.
    producing.catch(() => {});

    const readyMs: number[] = [];
    const end = started + o.durationMs;
    while (readyMs.length < o.kills || Date.now() < end) {
      await sleep(o.gapMs[0] + Math.floor(rng.next() * (o.gapMs[1] - o.gapMs[0])));
      o.timeline?.mark('faultStart');
      await server.kill9();
      readyMs.push(await server.launch());
      o.log?.(`kill ${readyMs.length}: ready again in ${Math.round(readyMs.at(-1)!)} ms; ${ledger.byKey.size} accepted, ${ledger.acked.size} acked`);
    }
    killing = false;
    o.timeline?.mark('faultEnd');
    const produced = await producing;

    // Settled when no shard holds a ready, delayed or leased message: with the producers done,
    // nothing can change after that (a prefetched delivery is a lease until its ACK lands).
    const settled = await waitServerEmpty(server, o.settleTimeoutMs);
    // An ACK the server applied may still await its reply here.
    await Promise.all(acking.map((a) => a.idle()));
    const dlq = await listDlqRemote(consumers[0]!);
    const r = ledger.reconcile(dlq, o.maxAttempts);
    // An ACK whose reply died with the server may have been applied: with the server empty it was
    // (or the server lost the message; from outside the two look the same, see OPERATIONS.md).
    const unconfirmed = settled ? r.lost.filter((id) => inDoubt.has(id)) : [];
    const lost = r.lost.filter((id) => !unconfirmed.includes(id));
    const reasons = new Map<string, number>();
    for (const e of dlq) reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1);
    const counts = ledger.counts();
    return {
      accepted: counts.accepted,
      acked: counts.acked,
      ackUnconfirmed: unconfirmed.length,
      dlq: dlq.length,
      dlqReasons: [...reasons].map(([k, v]) => `${k}:${v}`).join(',') || 'none',
      lost: lost.length,
      orphans: r.orphans.length,
      badDlq: r.badDlq.length,
      afterAck: counts.afterAck,
      idemMismatches: counts.idemMismatches,
      deliveries: counts.deliveries,
      duplicates: counts.duplicates,
      kills: readyMs.length,
      readyMs,
      sendRetries: produced.reduce((n, p) => n + p.retries, 0),
      refused: produced.reduce((n, p) => n + p.refused.length, 0),
      settled,
      elapsedMs: Date.now() - started,
      samples: [
        ...lost.slice(0, 3).map((id) => `lost ${id}`), ...r.orphans.slice(0, 3).map((id) => `orphan ${id}`), ...r.badDlq.slice(0, 3),
        ...produced.flatMap((p) => p.refused).slice(0, 3), ...ledger.afterAckSamples,
      ],
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await close();
  }
}

/** The promise as one predicate over the report. */
export function kill9Kept(r: Kill9Report, minKills: number): boolean {
  return r.settled && r.accepted > 0 && r.lost === 0 && r.orphans === 0 && r.badDlq === 0 && r.afterAck === 0 && r.idemMismatches === 0 &&
    r.refused === 0 && r.acked + r.ackUnconfirmed + r.dlq === r.accepted && r.kills >= minKills;
}

export const drill: Drill = {
  name: 'kill-9',
  promise: 'The server process on LevelDB, killed with SIGKILL and restarted again and again under SDK producers and consumers, loses no acknowledged SEND: each is delivered and ACKed by a consumer or sits in the DLQ with its reason; details give spawn-to-/readyz after each restart (min/median/max ms).',
  async run(opts) {
    const o: Kill9Options = {
      kills: 5, durationMs: opts.durationMs ?? 30_000, messages: opts.messages ?? 1_000_000, gapMs: [300, 2_500], producers: 3, topics: 16,
      maxAttempts: 10, settleTimeoutMs: 120_000, seed: opts.seed ?? 9, ...(opts.log ? { log: opts.log } : {}), ...(opts.timeline ? { timeline: opts.timeline } : {}),
    };
    const r = await runKill9(o);
    return {
      kept: kill9Kept(r, o.kills),
      details: {
        accepted: r.accepted, acked: r.acked, ackUnconfirmed: r.ackUnconfirmed, dlq: r.dlq, dlqReasons: r.dlqReasons, lost: r.lost,
        orphans: r.orphans, afterAck: r.afterAck, duplicates: r.duplicates, kills: r.kills, readyMs: spread(r.readyMs),
        sendRetries: r.sendRetries, elapsedMs: r.elapsedMs, ...(r.samples.length ? { samples: r.samples.join('; ') } : {}),
      },
    };
  },
};
