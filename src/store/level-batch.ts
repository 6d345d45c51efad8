/**
 * Turns one commit's StoreOps into format-3 LevelDB ops (keys.ts), updating the store's RAM
 * tables (shard-ram.ts, dedup-buckets.ts) as it goes. Happy path per message: SEND writes the
 * message record and its idempotency record, a lease writes nothing of its own (the commit's
 * leased messages share one delivery record), ACK deletes the record; the delivery record goes
 * with its last member. Counters (`t/`, `i/`) are written at most once per key per batch
 * (level.ts collapses them).
 *
 * The rare DLQ moves keep the payload rule of ops.ts without a payload in the op: a move to
 * the DLQ copies the payload from the message record to `p/`, a reprocess copies it back. The
 * copy is a `read` op, resolved just before the batch is written (one batch at a time, so the
 * read sees every earlier batch, and earlier commits of the same batch through `pending`).
 */
import type { MessageMeta, MsgId, ShardIndex, StoreOp } from '../domain/types.ts';
import { DedupBuckets, dedupRecordKey } from './dedup-buckets.ts';
import { attemptKey, deliveryKey, dlqKey, infoKey, messageKey, payloadKey, topicCountKey, topicTableKey } from './keys.ts';
import { payloadDrops } from './ops.ts';
import { encodeAttempt, encodeDelivery, encodeMessage, messagePayload, needsAttempt, packr, type LeaseMember } from './record-codec.ts';
import type { ShardRam, TopicEntry } from './shard-ram.ts';

export type BatchOp =
  | { type: 'put'; key: string; value: Buffer }
  | { type: 'del'; key: string }
  /** Read `from` (a message record when `fromMessage`, else raw bytes) and write its payload as `to` (a message record of `meta` when given). */
  | { type: 'copy'; from: string; fromMessage: boolean; to: string; meta?: MessageMeta };

export interface Translated {
  batch: BatchOp[];
  /** Topics whose `n/` record this commit writes (marked durable once its batch succeeded). */
  newTopics: TopicEntry[];
  /** Whether it writes the idempotency bucket width (dedup-buckets.ts). */
  savesWidth: boolean;
}

export function translate(ops: readonly StoreOp[], ram: (shard: ShardIndex) => ShardRam, buckets: DedupBuckets): Translated {
  const out: BatchOp[] = [];
  const newTopics: TopicEntry[] = [];
  let savesWidth = false;
  let dlqOps = false;
  for (const op of ops) if (op.op === 'putDlq' || op.op === 'delDlq') dlqOps = true;
  // Leases of this commit, per shard: one delivery record each.
  let leases: Map<ShardIndex, LeaseMember[]> | undefined;
  const topicOf = (r: ShardRam, m: { tenant: MessageMeta['tenant']; topic: MessageMeta['topic'] }): TopicEntry => {
    const t = r.topic(m.tenant, m.topic, true);
    if (!t.durable && !newTopics.includes(t)) {
      newTopics.push(t);
      out.push({ type: 'put', key: topicTableKey(r.shard, t.tid), value: packr.pack([t.tenant, t.topic]) });
    }
    return t;
  };
  const leaveLease = (r: ShardRam, msgId: MsgId): void => {
    const seq = r.leave(msgId);
    if (seq !== undefined) out.push({ type: 'del', key: deliveryKey(r.shard, seq) });
  };
  for (const op of ops) {
    switch (op.op) {
      case 'putMsg': {
        const { meta, shard } = op;
        const r = ram(shard);
        const t = topicOf(r, meta);
        const key = messageKey(shard, t.tid, meta.msgId);
        if (op.payload !== undefined) {
          out.push({ type: 'put', key, value: encodeMessage(meta, op.payload) });
          r.remember(meta.msgId, t.tid);
        } else if (op.was === undefined && dlqOps && ops.some((o) => o.op === 'delDlq' && o.msgId === meta.msgId)) {
          // Reprocess without a payload in the op: the DLQ's payload becomes the record's.
          out.push({ type: 'copy', from: payloadKey(shard, meta.msgId), fromMessage: false, to: key, meta });
          out.push({ type: 'del', key: payloadKey(shard, meta.msgId) });
        }
        if (meta.state === 'leased') {
          if (op.was === 'leased' && r.members.has(meta.msgId)) {
            // EXTEND: RAM only; a restart expires the lease anyway, an in-process rebuild reads RAM.
            r.members.get(meta.msgId)!.member.dueAt = meta.dueAt;
            break;
          }
          if (r.members.has(meta.msgId)) leaveLease(r, meta.msgId);
          if (op.was === undefined && (meta.history.length > 0 || meta.attempt > 1)) {
            // A record stored leased at once (a migration, a test): its history goes to the attempt record, as before a lease.
            const before = { attempt: meta.attempt - 1, state: 'ready' as const, dueAt: 0, history: meta.history };
            out.push({ type: 'put', key: attemptKey(shard, meta.msgId), value: encodeAttempt(t.tid, before) });
            r.attempts.set(meta.msgId, { tid: t.tid, ...before, history: meta.history.slice() });
          }
          const member: LeaseMember = { msgId: meta.msgId, tid: t.tid, attempt: meta.attempt, dueAt: meta.dueAt };
          if (meta.leaseId !== undefined) member.leaseId = meta.leaseId;
          if (meta.owner !== undefined) member.owner = meta.owner;
          leases ??= new Map();
          let list = leases.get(shard);
          if (list === undefined) leases.set(shard, (list = []));
          list.push(member);
          break;
        }
        if (r.members.has(meta.msgId)) leaveLease(r, meta.msgId);
        const akey = attemptKey(shard, meta.msgId);
        if (needsAttempt(meta)) {
          out.push({ type: 'put', key: akey, value: encodeAttempt(t.tid, meta) });
          r.attempts.set(meta.msgId, { tid: t.tid, attempt: meta.attempt, state: meta.state, dueAt: meta.dueAt, history: meta.history.slice() });
        } else if (r.attempts.delete(meta.msgId)) {
          out.push({ type: 'del', key: akey });
        }
        break;
      }
      case 'delMsg': {
        const r = ram(op.shard);
        const t = r.topic(op.tenant, op.topic, false);
        if (t !== undefined) {
          const key = messageKey(op.shard, t.tid, op.msgId);
          if (dlqOps && ops.some((o) => o.op === 'putDlq' && o.payload === undefined && o.entry.meta.msgId === op.msgId)) {
            // Into the DLQ without a payload in the op: the record's payload becomes the entry's.
            out.push({ type: 'copy', from: key, fromMessage: true, to: payloadKey(op.shard, op.msgId) });
          }
          out.push({ type: 'del', key });
        }
        leaveLease(r, op.msgId);
        if (r.attempts.delete(op.msgId)) out.push({ type: 'del', key: attemptKey(op.shard, op.msgId) });
        r.forget(op.msgId);
        break;
      }
      case 'putDedup': {
        const bucket = buckets.bucketOf(op.entry.expiresAt);
        buckets.add(op.shard, bucket);
        const width = savesWidth ? undefined : buckets.unsavedRecord();
        if (width !== undefined) {
          savesWidth = true;
          out.push({ type: 'put', ...width });
        }
        out.push({ type: 'put', key: dedupRecordKey(op.shard, bucket, op.key), value: packr.pack(op.entry) });
        break;
      }
      case 'delDedup':
        for (const key of buckets.deleteKeys(op.shard, op.key)) out.push({ type: 'del', key });
        break;
      case 'putDlq':
        out.push({ type: 'put', key: dlqKey(op.shard, op.entry.meta.msgId), value: packr.pack(op.entry) });
        if (op.payload !== undefined) out.push({ type: 'put', key: payloadKey(op.shard, op.entry.meta.msgId), value: view(op.payload) });
        break;
      case 'delDlq':
        out.push({ type: 'del', key: dlqKey(op.shard, op.msgId) });
        break;
      case 'putTopic': {
        const key = topicCountKey(op.shard, op.tenant, op.topic);
        out.push(op.live > 0 ? { type: 'put', key, value: Buffer.from(String(op.live)) } : { type: 'del', key });
        break;
      }
      case 'putShardInfo':
        out.push({ type: 'put', key: infoKey(op.shard), value: packr.pack(op.info) });
        break;
    }
  }
  if (leases !== undefined) {
    for (const [shard, members] of leases) {
      const r = ram(shard);
      const seq = r.takeSeq();
      for (const m of members) r.join(seq, m);
      out.push({ type: 'put', key: deliveryKey(shard, seq), value: encodeDelivery(members) });
    }
  }
  // Only DLQ payloads live in `p/`: a commit without DLQ ops has none to drop.
  if (dlqOps) for (const { shard, msgId } of payloadDrops(ops)) out.push({ type: 'del', key: payloadKey(shard, msgId) });
  return { batch: out, newTopics, savesWidth };
}

/** The payload a `copy` op carries over, from a record value. */
export function copiedValue(op: Extract<BatchOp, { type: 'copy' }>, source: Buffer): Buffer {
  const payload = op.fromMessage ? messagePayload(source) : source;
  return op.meta === undefined ? Buffer.from(payload) : encodeMessage(op.meta, payload);
}

/** A Buffer over the same bytes (no copy): LevelDB copies values into its write batch itself. */
export function view(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
