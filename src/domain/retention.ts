/**
 * Retention: which records are past the configured horizon (`retention.readyMs` for ready
 * and delayed messages, `retention.dlqMs` for dead letters) and how often to look. Pure:
 * the shard (through ShardQueue.purgeOlderThan) and the DLQ actor apply the selection
 * through their normal commit path, so indexes and store stay in step.
 */
import type { DlqEntry, MessageMeta, MsgId } from './types.ts';

/** Retention passes run at least this often (ms), and at most ten times per horizon. */
export const RETENTION_MAX_INTERVAL_MS = 60_000;
/** Nor more often than this, whatever the horizon. */
export const RETENTION_MIN_INTERVAL_MS = 100;

/** How often a retention pass runs for a horizon of `retentionMs`: `min(60 s, retentionMs / 10)`. */
export function retentionIntervalMs(retentionMs: number): number {
  return Math.max(RETENTION_MIN_INTERVAL_MS, Math.min(RETENTION_MAX_INTERVAL_MS, Math.floor(retentionMs / 10)));
}

/** Wall-clock ms before which a record is past a horizon of `retentionMs` at `now`. */
export function retentionCutoff(now: number, retentionMs: number): number {
  return now - retentionMs;
}

/**
 * A ready or delayed message enqueued before `before` is past retention. A leased one never
 * is: its lease ends first (ACK, NACK or expiry) and a later pass sees it ready again.
 */
export function isReadyExpired(meta: Pick<MessageMeta, 'state' | 'enqueuedAt'>, before: number): boolean {
  return meta.state !== 'leased' && meta.enqueuedAt < before;
}

/** A DLQ entry that died before `before` is past retention. */
export function isDlqExpired(entry: Pick<DlqEntry, 'deadAt'>, before: number): boolean {
  return entry.deadAt < before;
}

/** The messages (at most `limit`) past retention, in the order given. */
export function selectExpiredMessages(messages: Iterable<MessageMeta>, before: number, limit = Number.POSITIVE_INFINITY): MessageMeta[] {
  const out: MessageMeta[] = [];
  if (limit <= 0) return out;
  for (const m of messages) {
    if (!isReadyExpired(m, before)) continue;
    out.push(m);
    if (out.length >= limit) break;
  }
  return out;
}

/** The msgIds of DLQ entries past retention, in the order given. */
export function selectExpiredDlq(entries: Iterable<DlqEntry>, before: number): MsgId[] {
  const out: MsgId[] = [];
  for (const e of entries) if (isDlqExpired(e, before)) out.push(e.meta.msgId);
  return out;
}
