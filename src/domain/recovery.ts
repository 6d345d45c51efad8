/**
 * Crash-only recovery: a shard rebuilds its queue from what the store holds.
 *
 * - After an actor restart inside a live process (`keep-leases`) open leases stay open and
 *   expire as usual; leases of sessions that ended meanwhile return at once (session_lost).
 * - After a process start (`expire-leases`) no consumer can hold a lease any more: each open
 *   lease counts as a failed attempt with outcome `server_restart`.
 */
import type { DedupEntry, MessageMeta, MsgId, SessionId, StoreOp, TenantId, Topic } from './types.ts';
import type { Settlement, ShardQueue } from './shard-queue.ts';

export interface RecoveryInput {
  /** Ready messages handed over at load (all of them for a RAM store, none for a paged one). */
  ready: MessageMeta[];
  /** Leased and delayed messages. */
  held: MessageMeta[];
  /** A paged store's live count per topic: what is not in RAM waits in the store, ready. */
  topics: Array<{ tenant: TenantId; topic: Topic; live: number }>;
  dedup: Array<[string, DedupEntry]>;
  dlqDepth: number;
  newestId?: MsgId;
}

export type LeaseRecovery = 'keep-leases' | 'expire-leases';

export function rebuildShard(
  queue: ShardQueue,
  input: RecoveryInput,
  now: number,
  mode: LeaseRecovery,
  isOwnerAlive: (owner: SessionId) => boolean,
  out: StoreOp[],
): Settlement[] {
  // msgIds are time-sortable, so sorting restores each topic's FIFO order.
  const ready = input.ready.slice().sort((a, b) => (a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0));
  for (const meta of input.held) queue.restoreMessage(meta);
  for (const meta of ready) queue.restoreMessage(meta);
  for (const t of input.topics) queue.restoreTopic(t.tenant, t.topic, t.live);
  // A fresh generator could issue ids that sort before stored ones within the same millisecond,
  // and the next rebuild (which sorts by msgId) would then break FIFO: start past the newest.
  let newest: MsgId | undefined = input.newestId;
  const consider = (id: MsgId): void => {
    if (newest === undefined || id > newest) newest = id;
  };
  for (const meta of input.held) consider(meta.msgId);
  if (ready.length > 0) consider(ready[ready.length - 1]!.msgId);
  for (const [, entry] of input.dedup) consider(entry.msgId);
  if (newest !== undefined) queue.advanceIdsPast(newest);
  queue.restoreDlqDepth(input.dlqDepth);
  for (const key of queue.dedup.restore(input.dedup, now)) out.push({ op: 'delDedup', shard: queue.shard, key });

  const settled: Settlement[] = [];
  for (const meta of queue.leasedMessages()) {
    if (mode === 'expire-leases') settled.push(queue.settle(meta, 'server_restart', now, out, 0));
    else if (!meta.owner || !isOwnerAlive(meta.owner)) settled.push(queue.settle(meta, 'session_lost', now, out, 0));
  }
  return settled;
}
