/** The kill loop at scale: shards, sessions and the DLQ actor die every 50 ms under load. */
import type { Drill } from './drill.ts';
import { chaosKept, DEFAULT_CHAOS, withChaosMailbox } from './workload.ts';

export const drill: Drill = {
  name: 'kill-actors',
  promise: 'With a random shard, session or DLQ actor killed every 50 ms, every accepted message is acknowledged or dead-lettered with its reason, none is lost, and none is delivered after its ACK succeeded.',
  async run(opts) {
    const o = {
      ...DEFAULT_CHAOS,
      messages: opts.messages ?? 50_000,
      chaosMs: opts.durationMs ?? 15_000,
      settleTimeoutMs: 120_000,
      seed: opts.seed ?? DEFAULT_CHAOS.seed,
    };
    const { report: r } = await withChaosMailbox(o, opts.log, opts.paged ?? false, opts.timeline);
    return {
      kept: chaosKept(r, o.messages),
      details: {
        accepted: r.accepted, acked: r.acked, dlq: r.dlq, lost: r.lost, afterAck: r.afterAck, ackedDead: r.ackedDead,
        duplicates: r.duplicates, kills: r.kills, shardRestarts: r.shardRestarts, staleLeases: r.staleLeases,
        sendRetries: r.sendRetries, elapsedMs: r.elapsedMs, ...(r.samples.length ? { samples: r.samples.join('; ') } : {}),
      },
    };
  },
};
