/**
 * Shared fixtures for the domain tests: a shard queue with small limits, and a tiny
 * in-memory model of a store that applies StoreOps to Maps (deep copies, as a real store
 * serialises), so tests can rebuild a shard from exactly what was emitted.
 */
import { createHash } from 'node:crypto';
import { SeededRng } from '../../src/domain/clock.ts';
import { IdGenerator } from '../../src/domain/ids.ts';
import type { RecoveryInput } from '../../src/domain/recovery.ts';
import { ShardQueue, topicKey, type EnqueueInput, type ShardLimits } from '../../src/domain/shard-queue.ts';
import type { DedupEntry, DlqEntry, MessageMeta, MsgId, SessionId, ShardIndex, ShardInfo, StoreOp, TenantId, Topic } from '../../src/domain/types.ts';
import { DEFAULT_TENANT } from '../../src/domain/types.ts';

export const T0 = 1_700_000_000_000;
export const SHARD = 0 as ShardIndex;
export const TENANT = DEFAULT_TENANT;
export const OTHER_TENANT = '0000000000000000000000000000000a' as TenantId;

export const LIMITS: ShardLimits = {
  maxAttempts: 3,
  backoff: { baseMs: 100, maxMs: 1_000 },
  maxVisibilityMs: 60_000,
  capacity: 1_000,
  dedupCapacity: 1_000,
  replayWindowMs: 10_000,
};

export function topic(name: string): Topic {
  return name as Topic;
}

export function session(name: string): SessionId {
  return name as SessionId;
}

export function makeQueue(limits: Partial<ShardLimits> = {}, seed = 7): ShardQueue {
  return new ShardQueue(SHARD, { ...LIMITS, ...limits }, new IdGenerator(new SeededRng(seed)), new SeededRng(seed + 1));
}

export function hashOf(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('hex');
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A SEND input for `text` on `t`, with the idemKey defaulting to the text. */
export function sendInput(t: string, text: string, extra: Partial<EnqueueInput> = {}): EnqueueInput {
  const payload = bytes(text);
  return { tenant: TENANT, topic: topic(t), idemKey: text, payload, payloadHash: hashOf(payload), ...extra };
}

function cloneMeta(meta: MessageMeta): MessageMeta {
  return structuredClone(meta);
}

/** What a store holds for one shard. */
export class StoreModel {
  readonly msgs = new Map<MsgId, MessageMeta>();
  readonly payloads = new Map<MsgId, Uint8Array>();
  readonly dedup = new Map<string, DedupEntry>();
  readonly dlq = new Map<MsgId, DlqEntry>();
  /** The counters of a paged store: live messages per topic key, and the shard info. */
  readonly topicLive = new Map<string, { tenant: TenantId; topic: Topic; live: number }>();
  info: ShardInfo | undefined;

  apply(ops: readonly StoreOp[]): void {
    applyOps(this, ops);
  }

  /** The records a RAM store hands a shard on recovery (copies, never the stored objects). */
  recoveryInput(): RecoveryInput {
    const all = [...this.msgs.values()].map(cloneMeta);
    return {
      ready: all.filter((m) => m.state === 'ready'),
      held: all.filter((m) => m.state !== 'ready'),
      topics: [],
      dedup: [...this.dedup.entries()].map(([k, e]) => [k, { ...e }] as [string, DedupEntry]),
      dlqDepth: this.dlq.size,
    };
  }

  /** What a paged store hands over: held messages and its counters, no ready message, no dedup record. */
  pagedRecoveryInput(): RecoveryInput {
    const input: RecoveryInput = {
      ready: [],
      held: [...this.msgs.values()].filter((m) => m.state !== 'ready').map(cloneMeta),
      topics: [...this.topicLive.values()].map((t) => ({ ...t })),
      dedup: [],
      dlqDepth: this.info?.dlqDepth ?? 0,
    };
    if (this.info?.newestId !== undefined) input.newestId = this.info.newestId;
    return input;
  }

  /** A paged store's ready range of one topic, in msgId order. */
  readyPage(tenant: TenantId, topic: Topic, query: { after?: MsgId; before?: string; limit: number }): MessageMeta[] {
    return [...this.msgs.values()]
      .filter((m) => m.state === 'ready' && m.tenant === tenant && m.topic === topic && (query.after === undefined || m.msgId > query.after) && (query.before === undefined || m.msgId < query.before))
      .sort((a, b) => (a.msgId < b.msgId ? -1 : 1))
      .slice(0, query.limit)
      .map(cloneMeta);
  }

  /** Depths as the stored records tell them. */
  depths(): { ready: number; leased: number; delayed: number; dlq: number } {
    const d = { ready: 0, leased: 0, delayed: 0, dlq: this.dlq.size };
    for (const m of this.msgs.values()) d[m.state]++;
    return d;
  }
}

/** Applies ops in order, as one batch, copying every record (a store serialises). */
export function applyOps(store: StoreModel, ops: readonly StoreOp[]): void {
  for (const op of ops) {
    switch (op.op) {
      case 'putMsg':
        store.msgs.set(op.meta.msgId, cloneMeta(op.meta));
        if (op.payload !== undefined) store.payloads.set(op.meta.msgId, op.payload.slice());
        break;
      case 'delMsg':
        store.msgs.delete(op.msgId);
        break;
      case 'putDedup':
        store.dedup.set(op.key, { ...op.entry });
        break;
      case 'delDedup':
        store.dedup.delete(op.key);
        break;
      case 'putDlq':
        store.dlq.set(op.entry.meta.msgId, structuredClone(op.entry));
        if (op.payload !== undefined) store.payloads.set(op.entry.meta.msgId, op.payload.slice());
        break;
      case 'delDlq':
        store.dlq.delete(op.msgId);
        break;
      case 'putTopic': {
        const key = topicKey(op.tenant, op.topic);
        if (op.live === 0) store.topicLive.delete(key);
        else store.topicLive.set(key, { tenant: op.tenant, topic: op.topic, live: op.live });
        break;
      }
      case 'putShardInfo':
        store.info = { ...op.info };
        break;
    }
  }
  // A payload lives as long as its message or DLQ entry (a move to the DLQ keeps it).
  for (const id of [...store.payloads.keys()]) if (!store.msgs.has(id) && !store.dlq.has(id)) store.payloads.delete(id);
}
