/** A full disk mid-load: SENDs are shed, readiness degrades, then everything recovers. */
import { createMailbox } from '../src/index.ts';
import { SeededRng } from '../src/domain/clock.ts';
import { Consumer, SessionKeeper, produce, sleep, topicOf } from './actors.ts';
import type { Drill } from './drill.ts';
import { listAllDlq, liveMessages, metricValue, waitUntil } from './inspect.ts';
import { Ledger } from './ledger.ts';
import { runtimeSource } from './timeline.ts';
import { chaosConfig, chaosRuntime } from './workload.ts';

export const drill: Drill = {
  name: 'storage-full',
  promise: 'A disk that fills mid-load sheds SENDs with E_UNAVAILABLE and degrades readiness for storage; once it has room again readiness returns to ready by itself and no accepted message is lost.',
  async run(opts) {
    const messages = opts.messages ?? 20_000;
    const fullForMs = opts.durationMs ?? 2_000;
    const o = { shards: 8, maxAttempts: 5 };
    const mb = await createMailbox(chaosConfig(o), chaosRuntime());
    const details: Record<string, number | string> = {};
    try {
      const rng = new SeededRng(opts.seed ?? 7);
      const ledger = new Ledger();
      opts.timeline?.watch(runtimeSource(mb, ledger));
      const topics = Array.from({ length: 100 }, (_, i) => topicOf(i, 100));
      const consumer = new Consumer(mb, ledger, rng, topics, 'recv', { ack: 0.9, nack: 0.05, extend: 0, visibilityMs: [300, 600] }).start();
      const producing = produce(new SessionKeeper(mb), ledger, { from: 0, to: messages, topics: 100, batch: 100 });

      await waitUntil(() => ledger.byKey.size >= messages / 4, 60_000);
      mb.store.faults.failWrites = 'full';
      opts.timeline?.mark('faultStart');
      details.degraded = String(await waitUntil(() => mb.readiness().state === 'degraded', 10_000));
      details.reasons = mb.readiness().reasons.join('; ');
      await sleep(fullForMs);
      details.acceptedWhileFull = ledger.byKey.size;
      mb.store.faults.clear();
      opts.timeline?.mark('faultEnd');
      const recovered = await waitUntil(() => mb.readiness().state === 'ready', 15_000);
      details.recovered = String(recovered);

      const { retries } = await producing;
      const settled = await waitUntil(() => liveMessages(mb, o.shards) === 0, 60_000, 50);
      await consumer.stop();
      const dlq = await listAllDlq(mb);
      const { lost, orphans, ackedDead } = ledger.reconcile(dlq, o.maxAttempts);
      Object.assign(details, {
        accepted: ledger.byKey.size, acked: ledger.acked.size, dlq: dlq.length, lost: lost.length, orphans: orphans.length,
        sendRetries: retries, rejectedStorage: await metricValue(mb, 'rejected_total{reason="storage"}'),
        rejectedDegraded: await metricValue(mb, 'rejected_total{reason="degraded"}'), afterAck: ledger.afterAck,
      });
      const kept = details.degraded === 'true' && recovered && settled && ledger.byKey.size === messages && lost.length === 0 &&
        orphans.length === 0 && ackedDead.length === 0 && ledger.afterAck === 0 && (details.rejectedStorage as number) > 0;
      return { kept, details };
    } finally {
      mb.store.faults.clear();
      await mb.stop();
    }
  },
};
