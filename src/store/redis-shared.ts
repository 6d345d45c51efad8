/**
 * The shared mode's queue operations on Redis (redis-shared-scripts.ts), typed: one method per
 * script, each one round trip. The shard actor of a shared-mode mailbox (actors/shared-shard-core.ts)
 * calls these instead of keeping a queue of its own; Redis is the queue.
 */
import { Packr } from 'msgpackr';
import type { DlqEntry, MessageMeta, MsgId, ShardIndex, TenantId } from '../domain/types.ts';
import type { RedisClient } from './redis-client.ts';
import { shardKeys } from './redis-keys.ts';
import {
  ACK_LUA, DEPTHS_LUA, ENQUEUE_LUA, EXTEND_LUA, FORGET_DEAD_LUA, LEASE_LUA, NACK_LUA, RELEASE_LUA, REVIVE_LUA, TICK_LUA,
} from './redis-shared-scripts.ts';

/** Values written by Lua (cmsgpack) carry 64-bit integers: read them as numbers. */
const packr = new Packr({ useRecords: false, int64AsType: 'number' });

export interface SharedEnqueueItem {
  meta: MessageMeta;
  payload: Uint8Array;
  dedupKey: string;
}

export type SharedEnqueueOutcome = { kind: 'accepted' } | { kind: 'duplicate' | 'conflict'; msgId: MsgId } | { kind: 'full' };

/** Why a lease check failed: not found, another tenant's, the lease ended (queued again), dead-lettered, expired. */
export type LeaseRefusal = 'N' | 'F' | 'S' | 'D' | 'E';

export type SharedSettlement = { kind: 'requeued'; meta: MessageMeta } | { kind: 'dead'; entry: DlqEntry };

export interface SharedPolicy {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  replayWindowMs: number;
  capacity: number;
}

type Args = Array<string | number | Buffer>;

interface Scripts {
  mbxEnqueue(key: string, ...args: Args): Promise<Buffer[]>;
  mbxLease(key: string, ...args: Args): Promise<Buffer[]>;
  mbxAck(key: string, ...args: Args): Promise<Buffer[]>;
  mbxNack(key: string, ...args: Args): Promise<Buffer[]>;
  mbxExtend(key: string, ...args: Args): Promise<[Buffer, number]>;
  mbxTick(key: string, ...args: Args): Promise<Array<Buffer | number>>;
  mbxRelease(key: string, ...args: Args): Promise<Buffer[]>;
  mbxRevive(key: string, ...args: Args): Promise<number>;
  mbxForgetDead(key: string, ...args: Args): Promise<number>;
  mbxDepths(key: string, ...args: Args): Promise<number[]>;
}

const SCRIPTS = {
  mbxEnqueue: ENQUEUE_LUA, mbxLease: LEASE_LUA, mbxAck: ACK_LUA, mbxNack: NACK_LUA, mbxExtend: EXTEND_LUA,
  mbxTick: TICK_LUA, mbxRelease: RELEASE_LUA, mbxRevive: REVIVE_LUA, mbxForgetDead: FORGET_DEAD_LUA, mbxDepths: DEPTHS_LUA,
} as const;

/** Defines the scripts on a client (once per client); they are sent by EVALSHA, reloaded on NOSCRIPT. */
export function defineSharedScripts(client: RedisClient): void {
  // The Buffer variants (`<name>Buffer`) are what this module calls: payloads and metas are bytes.
  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua, numberOfKeys: 1 });
}

/** A topic as the scripts name it (its ready set, its wake-up message): `<tenant>/<topic>` (tenants are 32 hex digits, so the first `/` ends it). */
export function sharedTopicKey(tenant: TenantId, topic: string): string {
  return `${tenant}/${topic}`;
}

/** One shard's queue in Redis. */
export class SharedQueue {
  readonly tag: string;
  private readonly routeKey: string;
  private readonly client: RedisClient & { [K in keyof Scripts as `${K}Buffer`]: Scripts[K] };

  constructor(client: RedisClient, prefix: string, readonly shard: ShardIndex, private readonly policy: SharedPolicy) {
    this.client = client as typeof this.client;
    const keys = shardKeys(prefix, shard);
    this.routeKey = keys.msgs;
    this.tag = keys.msgs.slice(0, -2);
  }

  /** The pub/sub channel a change of a topic's ready set is announced on (message: `<tenant>/<topic>`). */
  get wakeChannel(): string {
    return `${this.tag}:wake`;
  }

  async enqueue(items: readonly SharedEnqueueItem[]): Promise<SharedEnqueueOutcome[]> {
    const args: Args = [this.tag, this.policy.replayWindowMs, this.policy.capacity];
    // ioredis sends a Buffer as bytes but a plain Uint8Array as its String(): view it as a Buffer.
    for (const item of items) args.push(item.meta.msgId, packr.pack(item.meta), asBuffer(item.payload), item.dedupKey, item.meta.payloadHash);
    const reply = await this.client.mbxEnqueueBuffer(this.routeKey, ...args);
    const out: SharedEnqueueOutcome[] = [];
    for (let i = 0; i < reply.length; i += 2) {
      const code = reply[i]!.toString();
      const msgId = reply[i + 1]!.toString() as MsgId;
      out.push(code === 'A' ? { kind: 'accepted' } : code === 'S' ? { kind: 'full' } : { kind: code === 'D' ? 'duplicate' : 'conflict', msgId });
    }
    return out;
  }

  /** Leases up to `max` ready messages of one topic for `owner`; each comes with its payload. */
  async lease(topicKey: string, max: number, maxBytes: number, visibilityMs: number, owner: string): Promise<Array<{ meta: MessageMeta; payload: Buffer }>> {
    const reply = await this.client.mbxLeaseBuffer(this.routeKey, this.tag, topicKey, max, maxBytes, visibilityMs, owner, this.shard);
    const out: Array<{ meta: MessageMeta; payload: Buffer }> = [];
    for (let i = 0; i < reply.length; i += 2) out.push({ meta: decodeRedisMeta(reply[i]!), payload: reply[i + 1]! });
    return out;
  }

  /** Per item: the topic key of the acknowledged message, or why not. */
  async ack(tenant: TenantId, items: ReadonlyArray<{ msgId: MsgId; leaseId: string }>): Promise<Array<{ topicKey: string } | LeaseRefusal>> {
    const args: Args = [this.tag, tenant];
    for (const item of items) args.push(item.msgId, item.leaseId);
    const reply = await this.client.mbxAckBuffer(this.routeKey, ...args);
    const out: Array<{ topicKey: string } | LeaseRefusal> = [];
    for (let i = 0; i < reply.length; i += 2) {
      const code = reply[i]!.toString();
      out.push(code === 'A' ? { topicKey: reply[i + 1]!.toString() } : (code as LeaseRefusal));
    }
    return out;
  }

  async nack(tenant: TenantId, msgId: MsgId, leaseId: string, delayMs: number | undefined, reason: string | undefined, random: number): Promise<SharedSettlement | LeaseRefusal> {
    const p = this.policy;
    const [code, kind, record] = await this.client.mbxNackBuffer(
      this.routeKey, this.tag, tenant, msgId, leaseId, delayMs ?? -1, reason ?? '', p.maxAttempts, p.backoffBaseMs, p.backoffMaxMs, random,
    );
    if (code!.toString() !== 'A') return code!.toString() as LeaseRefusal;
    return settlement(kind!.toString(), record!);
  }

  /** The lease's new deadline (wall-clock ms), or why not. */
  async extend(tenant: TenantId, msgId: MsgId, leaseId: string, ms: number): Promise<number | LeaseRefusal> {
    const [code, deadline] = await this.client.mbxExtendBuffer(this.routeKey, this.tag, tenant, msgId, leaseId, ms);
    return code.toString() === 'A' ? Number(deadline) : (code.toString() as LeaseRefusal);
  }

  /** Ends expired leases and readies due delayed messages; returns what it settled and ms until the next is due (-1: none). */
  async tick(limit: number, random: () => number): Promise<{ nextDueMs: number; settled: SharedSettlement[] }> {
    const p = this.policy;
    const args: Args = [this.tag, limit, p.maxAttempts, p.backoffBaseMs, p.backoffMaxMs];
    for (let i = 0; i < limit; i++) args.push(random());
    const reply = await this.client.mbxTickBuffer(this.routeKey, ...args);
    const settled: SharedSettlement[] = [];
    for (let i = 1; i < reply.length; i += 3) settled.push(settlement(String(reply[i]), reply[i + 2] as Buffer));
    return { nextDueMs: Number(reply[0]), settled };
  }

  /** Ends the leases `owner` still holds among `msgIds` (a session that went away): ready again at once. */
  async release(owner: string, msgIds: readonly MsgId[]): Promise<SharedSettlement[]> {
    if (msgIds.length === 0) return [];
    const reply = await this.client.mbxReleaseBuffer(this.routeKey, this.tag, owner, this.policy.maxAttempts, ...msgIds);
    const out: SharedSettlement[] = [];
    for (let i = 0; i < reply.length; i += 2) out.push(settlement(reply[i]!.toString(), reply[i + 1]!));
    return out;
  }

  async revive(tenant: TenantId, msgIds: readonly MsgId[]): Promise<number> {
    if (msgIds.length === 0) return 0;
    return Number(await this.client.mbxReviveBuffer(this.routeKey, this.tag, tenant, ...msgIds));
  }

  async forgetDead(msgIds: readonly MsgId[]): Promise<number> {
    if (msgIds.length === 0) return 0;
    return Number(await this.client.mbxForgetDeadBuffer(this.routeKey, this.tag, ...msgIds));
  }

  async depths(): Promise<{ ready: number; delayed: number; leased: number; dlq: number }> {
    const [ready, delayed, leased, dlq] = (await this.client.mbxDepthsBuffer(this.routeKey, this.tag)).map(Number);
    return { ready: ready!, delayed: delayed!, leased: leased!, dlq: dlq! };
  }
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** A meta as these scripts (cmsgpack) or the owned mode (msgpackr) wrote it. */
export function decodeRedisMeta(raw: Buffer): MessageMeta {
  return normalize(packr.unpack(raw) as MessageMeta);
}

/** A DLQ entry as either mode wrote it. */
export function decodeRedisDlqEntry(raw: Buffer): DlqEntry {
  const entry = packr.unpack(raw) as DlqEntry;
  entry.meta = normalize(entry.meta);
  return entry;
}

function normalize(meta: MessageMeta & { seq?: number }): MessageMeta {
  delete meta.seq;
  // cmsgpack writes an empty Lua table as an empty map.
  if (!Array.isArray(meta.history)) meta.history = [];
  return meta;
}

function settlement(kind: string, record: Buffer): SharedSettlement {
  return kind === 'dead' ? { kind: 'dead', entry: decodeRedisDlqEntry(record) } : { kind: 'requeued', meta: decodeRedisMeta(record) };
}
