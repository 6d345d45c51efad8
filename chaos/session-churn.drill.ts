/** Consumers whose sessions keep dying: their leases must come back at once, never be lost. */
import { createMailbox } from '../src/index.ts';
import { SeededRng } from '../src/domain/clock.ts';
import { Consumer, SessionKeeper, produce, sleep, topicOf } from './actors.ts';
import { startKillLoop } from './kill-loop.ts';
import type { Drill } from './drill.ts';
import { listAllDlq, liveMessages, waitUntil } from './inspect.ts';
import { Ledger } from './ledger.ts';
import { runtimeSource } from './timeline.ts';
import { chaosConfig, chaosRuntime } from './workload.ts';

export const drill: Drill = {
  name: 'session-churn',
  promise: 'Killing consumer sessions every 20 ms (leases held for a minute) loses no message: released leases come back at once and each message is acknowledged or dead-lettered.',
  async run(opts) {
    const messages = opts.messages ?? 10_000;
    const o = { shards: 4, maxAttempts: 10 };
    const mb = await createMailbox(chaosConfig(o), chaosRuntime());
    try {
      const started = Date.now();
      const rng = new SeededRng(opts.seed ?? 11);
      const ledger = new Ledger();
      opts.timeline?.watch(runtimeSource(mb, ledger));
      const topics = Array.from({ length: 50 }, (_, i) => topicOf(i, 50));
      // Long leases and no ignoring: only a session's end can bring a message back quickly.
      const policy = { ack: 0.95, nack: 0, extend: 0.05, visibilityMs: [60_000, 60_001] as [number, number] };
      const consumers = [
        new Consumer(mb, ledger, new SeededRng(rng.next() * 2 ** 31), topics, 'recv', policy).start(),
        new Consumer(mb, ledger, new SeededRng(rng.next() * 2 ** 31), topics, 'recv', policy).start(),
        new Consumer(mb, ledger, new SeededRng(rng.next() * 2 ** 31), topics, 'subscribe', policy).start(),
      ];
      const killer = startKillLoop(mb, new SeededRng(rng.next() * 2 ** 31), { everyMs: 20, shards: 0, dlq: false });
      opts.timeline?.mark('faultStart');
      const { retries } = await produce(new SessionKeeper(mb), ledger, { from: 0, to: messages, topics: 50, batch: 50 });
      await sleep(Math.max(0, started + (opts.durationMs ?? 3_000) - Date.now()));
      const kills = await killer.stop();
      opts.timeline?.mark('faultEnd');
      const settled = await waitUntil(() => liveMessages(mb, o.shards) === 0, 60_000, 50);
      await Promise.all(consumers.map((c) => c.stop()));
      const dlq = await listAllDlq(mb);
      const { lost, orphans, ackedDead } = ledger.reconcile(dlq, o.maxAttempts);
      const kept = settled && ledger.byKey.size === messages && lost.length === 0 && orphans.length === 0 && ackedDead.length === 0 &&
        ledger.afterAck === 0 && kills.kills > 0;
      return {
        kept,
        details: {
          accepted: ledger.byKey.size, acked: ledger.acked.size, dlq: dlq.length, lost: lost.length, sessionKills: kills.kills,
          reopened: consumers.reduce((n, c) => n + c.reopened, 0), duplicates: ledger.counts().duplicates, staleLeases: ledger.staleLeases,
          sendRetries: retries, afterAck: ledger.afterAck, elapsedMs: Date.now() - started,
        },
      };
    } finally {
      await mb.stop();
    }
  },
};
