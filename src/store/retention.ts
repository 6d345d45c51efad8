/**
 * Retention: which records a shard drops because they are older than the configured
 * horizon (`retention.readyMs` / `retention.dlqMs`). Pure: the caller (the shard, or the
 * DLQ actor paging with `listDlq`) commits the ops through its normal path, so its own
 * indexes stay in step with the store. The payload rule (ops.ts) drops the payloads.
 */
import type { DlqEntry, MessageMeta, ShardIndex, StoreOp } from '../domain/types.ts';

export interface RetentionCutoff {
  /** Ready or delayed messages enqueued before this wall-clock ms are dropped. */
  readyBefore?: number;
  /** DLQ entries that died before this wall-clock ms are dropped. */
  dlqBefore?: number;
}

/**
 * Ops that purge what is past retention. Leased messages are left alone: the lease ends
 * first (ACK, NACK or expiry) and the next pass sees the message ready again.
 */
export function retentionOps(
  shard: ShardIndex,
  messages: Iterable<MessageMeta>,
  dlq: Iterable<DlqEntry>,
  cutoff: RetentionCutoff,
): StoreOp[] {
  const ops: StoreOp[] = [];
  if (cutoff.readyBefore !== undefined) {
    for (const m of messages) {
      if (m.state !== 'leased' && m.enqueuedAt < cutoff.readyBefore) ops.push({ op: 'delMsg', shard, msgId: m.msgId });
    }
  }
  if (cutoff.dlqBefore !== undefined) {
    for (const e of dlq) {
      if (e.deadAt < cutoff.dlqBefore) ops.push({ op: 'delDlq', shard, msgId: e.meta.msgId });
    }
  }
  return ops;
}
