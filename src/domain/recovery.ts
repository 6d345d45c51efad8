/**
 * Crash-only recovery: a shard rebuilds its queue from what the store holds.
 *
 * - After an actor restart inside a live process (`keep-leases`) open leases stay open and
 *   expire as usual; leases of sessions that ended meanwhile return at once (session_lost).
 * - After a process start (`expire-leases`) no consumer can hold a lease any more: each open
 *   lease counts as a failed attempt with outcome `server_restart`.
 */
import type { DedupEntry, MessageMeta, SessionId, StoreOp } from './types.ts';
import type { Settlement, ShardQueue } from './shard-queue.ts';

export interface RecoveryInput {
  messages: MessageMeta[];
  dedup: Array<[string, DedupEntry]>;
  dlqDepth: number;
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
  const messages = input.messages.slice().sort((a, b) => (a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0));
  for (const meta of messages) queue.restoreMessage(meta);
  // A fresh generator could issue ids that sort before stored ones within the same millisecond,
  // and the next rebuild (which sorts by msgId) would then break FIFO: start past the newest.
  let newest = messages.length > 0 ? messages[messages.length - 1]!.msgId : undefined;
  for (const [, entry] of input.dedup) if (newest === undefined || entry.msgId > newest) newest = entry.msgId;
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
