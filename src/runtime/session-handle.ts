/**
 * The Session facade: validates input, applies readiness and quota, routes each operation
 * to its shard (SEND/RECV by topic, ACK/NACK/EXTEND by the shard named in the leaseId) and
 * keeps the session actor informed of subscriptions.
 */
import { randomBytes } from 'node:crypto';
import type { AnyActorRef } from 'xstate';
import { MailboxError } from '../errors.ts';
import { shardFor } from '../domain/routing.ts';
import { sha256Hex } from '../domain/payload-hash.ts';
import { shardOfLease, type EnqueueInput } from '../domain/shard-queue.ts';
import { DEFAULT_TENANT, type Attrs, type Delivery, type LeaseId, type MsgId, type SessionId, type TenantId, type Topic } from '../domain/types.ts';
import type { ShardRef, ShardReply } from '../../actors/shard-ref.ts';
import type { AckOutcome, SendOutcome } from '../../actors/shard-events.ts';
import type { SessionContext, SubscriptionRecord } from '../../actors/session.ts';
import type { NackOptions, RecvInput, SendInput, SendResult, Session, SessionOptions, SubscribeInput } from './api.ts';
import type { RuntimeCore } from './core.ts';
import { scatter, scatterTo } from './scatter.ts';
import {
  LIMITS, checkAttrs, checkIdemKey, checkInt, checkLeaseId, checkMsgId, checkOptionalInt, checkPayload, checkTopic,
} from './validate.ts';

export class SessionHandle implements Session {
  readonly tenant: TenantId;
  private ended = false;

  constructor(
    readonly id: SessionId,
    private readonly rt: RuntimeCore,
    private readonly actor: AnyActorRef,
    private readonly options: SessionOptions,
  ) {
    this.tenant = options.tenant ?? DEFAULT_TENANT;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** The runtime calls this once the session actor has ended. */
  markEnded(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.options.onClose?.(reason);
  }

  async send(input: SendInput): Promise<SendResult> {
    const [result] = await this.sendBatch([input]);
    if (result instanceof MailboxError) throw result;
    return result!;
  }

  async sendBatch(inputs: readonly SendInput[]): Promise<Array<SendResult | MailboxError>> {
    this.assertOpen();
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > LIMITS.batchItems) {
      throw new MailboxError('E_SCHEMA', `a batch holds 1 to ${LIMITS.batchItems} messages`);
    }
    const refusal = this.rt.writeRefusal() ?? this.rt.takeQuota(this.tenant, inputs);
    if (refusal) throw refusal;
    return scatter(
      inputs,
      (input) => this.toEnqueue(input),
      (item) => this.shardOf(item.topic),
      (ref, items) => ref.request<SendOutcome[]>((reply) => ({ type: 'send', items, reply })),
    );
  }

  /**
   * SEND / SEND_BATCH from the wire, without a promise: `done` hears one outcome per item.
   * The protocol decoder checked these items strictly (topic, idemKey, attrs, types and wire
   * bounds), so only what it cannot know is checked here: the configured payload limit, the
   * delay cap and the payload hash. Each item becomes the shard's EnqueueInput in place (no
   * second object per message). Throws what refuses the whole request (ended, readiness, quota).
   */
  sendWire(items: WireSendItem[], done: (outcomes: Array<SendOutcome | MailboxError>) => void): void {
    this.assertOpen();
    const refusal = this.rt.writeRefusal() ?? this.rt.takeQuota(this.tenant, items);
    if (refusal) throw refusal;
    scatterTo<EnqueueInput, SendOutcome>(items as unknown as EnqueueInput[], this.wireSendShard, this.wireSend, done);
  }

  /** ACK / ACK_BATCH from the wire (msgIds and leaseIds checked by the decoder), without a promise. */
  ackWire(items: Array<{ msgId: MsgId; leaseId: LeaseId }>, done: (outcomes: Array<AckOutcome | MailboxError>) => void): void {
    this.assertOpen();
    scatterTo<{ msgId: MsgId; leaseId: LeaseId }, AckOutcome>(items, this.wireAckShard, this.wireAck, done);
  }

  // The wire path's per-item and per-shard steps, made once per session rather than per request.
  private readonly wireSendShard = (item: EnqueueInput): ShardRef => this.shardOf(this.adoptWire(item as unknown as WireSendItem).topic);
  private readonly wireSend = (ref: ShardRef, items: EnqueueInput[], reply: ShardReply<SendOutcome[]>): void => ref.submit({ type: 'send', items, reply }, reply);
  private readonly wireAckShard = (item: { leaseId: LeaseId }): ShardRef => this.leaseShard(item.leaseId);
  private readonly wireAck = (ref: ShardRef, items: Array<{ msgId: MsgId; leaseId: LeaseId }>, reply: ShardReply<AckOutcome[]>): void =>
    ref.submit({ type: 'ack', tenant: this.tenant, items, reply }, reply);

  /** `timing.waitedMs` is set to how long the RECV sat parked waiting for a message (long-poll). */
  async recv(input: RecvInput, timing?: { waitedMs: number }): Promise<Delivery[]> {
    this.assertOpen();
    const topic = checkTopic(input?.topic) as Topic;
    const visibilityMs = this.visibility(input.visibilityMs);
    const maxMessages = checkInt(input.maxMessages, 'maxMessages', 1, LIMITS.maxMessages);
    const maxBytes = checkOptionalInt(input.maxBytes, 'maxBytes', 1, Number.MAX_SAFE_INTEGER);
    const waitMs = checkOptionalInt(input.waitMs, 'waitMs', 0, LIMITS.maxWaitMs) ?? 0;
    if (this.rt.draining()) return [];
    const ref = this.shardOf(topic);
    const req = { tenant: this.tenant, topic, visibilityMs, maxMessages, owner: this.id, ...(maxBytes === undefined ? {} : { maxBytes }) };
    const waited = timing ? (ms: number) => void (timing.waitedMs = ms) : undefined;
    return ref.request<Delivery[]>((reply) => ({ type: 'recv', req, waitMs, reply, ...(waited ? { waited } : {}) }));
  }

  async ack(msgId: MsgId, leaseId: LeaseId): Promise<void> {
    const [outcome] = await this.ackBatch([{ msgId, leaseId }]);
    if (outcome) throw outcome;
  }

  /** Many ACKs in one call (the wire's ACK_BATCH); one outcome per item, null for success. */
  async ackBatch(items: ReadonlyArray<{ msgId: MsgId; leaseId: LeaseId }>): Promise<AckOutcome[]> {
    this.assertOpen();
    return scatter(
      items,
      (item) => (checkMsgId(item.msgId), item),
      (item) => this.refForLease(item.leaseId),
      (ref, group) => ref.request<AckOutcome[]>((reply) => ({ type: 'ack', tenant: this.tenant, items: group, reply })),
    );
  }

  async nack(msgId: MsgId, leaseId: LeaseId, options: NackOptions = {}): Promise<void> {
    this.assertOpen();
    checkMsgId(msgId);
    const delayMs = checkOptionalInt(options.delayMs, 'delayMs', 0, LIMITS.maxDelayMs);
    if (options.reason !== undefined && (typeof options.reason !== 'string' || options.reason.length > 256)) {
      throw new MailboxError('E_SCHEMA', 'reason must be a string of at most 256 characters');
    }
    const ref = this.refForLease(leaseId);
    await ref.request<void>((reply) => ({
      type: 'nack', tenant: this.tenant, msgId, leaseId, reply,
      ...(delayMs === undefined ? {} : { delayMs }),
      ...(options.reason === undefined ? {} : { reason: options.reason }),
    }));
  }

  async extend(msgId: MsgId, leaseId: LeaseId, ms: number): Promise<number> {
    this.assertOpen();
    checkMsgId(msgId);
    // Clamped like a RECV's visibilityMs (PROTOCOL.md §7); the deadline returned is the one granted.
    const granted = Math.min(checkInt(ms, 'ms', 1, LIMITS.maxDurationMs), this.rt.config.queue.maxVisibilityMs);
    const ref = this.refForLease(leaseId);
    return ref.request<number>((reply) => ({ type: 'extend', tenant: this.tenant, msgId, leaseId, ms: granted, reply }));
  }

  async subscribe(input: SubscribeInput): Promise<string> {
    this.assertOpen();
    const topic = checkTopic(input?.topic) as Topic;
    const sub: SubscriptionRecord = {
      subId: randomBytes(8).toString('hex'),
      tenant: this.tenant,
      topic,
      visibilityMs: this.visibility(input.visibilityMs),
      prefetch: checkInt(input.prefetch, 'prefetch', 1, LIMITS.maxWindow),
    };
    this.actor.send({ type: 'SUBSCRIBE', sub });
    this.registerWith(this.shardOf(topic), sub);
    return sub.subId;
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    this.assertOpen();
    const sub = this.subscriptions().get(subscriptionId);
    if (!sub) throw new MailboxError('E_NOT_FOUND', `no subscription ${subscriptionId}`);
    this.actor.send({ type: 'UNSUBSCRIBE', subId: subscriptionId });
    this.shardOf(sub.topic).notify({ type: 'unsubscribe', owner: this.id, subId: subscriptionId });
  }

  async credit(subscriptionId: string, n: number): Promise<void> {
    this.assertOpen();
    checkInt(n, 'n', 1, LIMITS.maxCredit);
    const sub = this.subscriptions().get(subscriptionId);
    if (!sub) throw new MailboxError('E_NOT_FOUND', `no subscription ${subscriptionId}`);
    // The session keeps the widened window, so a restarted shard hears it again with the subscription.
    const prefetch = Math.min(LIMITS.maxWindow, sub.prefetch + n);
    this.actor.send({ type: 'CREDIT', subId: subscriptionId, prefetch });
    this.shardOf(sub.topic).notify({ type: 'credit', owner: this.id, subId: subscriptionId, prefetch });
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.actor.send({ type: 'CLOSE' });
  }

  /** A shard came back: tell it again about this session's subscriptions on it. */
  resubscribe(ref: ShardRef): void {
    if (this.ended) return;
    for (const sub of this.subscriptions().values()) if (this.shardOf(sub.topic) === ref) this.registerWith(ref, sub);
  }

  private registerWith(ref: ShardRef, sub: SubscriptionRecord): void {
    ref.notify({
      type: 'subscribe',
      sub: {
        owner: this.id, subId: sub.subId, tenant: sub.tenant, topic: sub.topic, visibilityMs: sub.visibilityMs, prefetch: sub.prefetch,
        deliver: (deliveries: Delivery[]) => {
          if (!this.ended) this.options.onDeliver?.(sub.subId, deliveries);
        },
      },
    });
  }

  private subscriptions(): ReadonlyMap<string, SubscriptionRecord> {
    return (this.actor.getSnapshot() as { context?: SessionContext }).context?.subscriptions ?? new Map();
  }

  /** A lease length asked for (or the default), clamped to queue.maxVisibilityMs: the cap applies, it does not refuse. */
  private visibility(asked: unknown): number {
    const q = this.rt.config.queue;
    return Math.min(checkOptionalInt(asked, 'visibilityMs', 1, LIMITS.maxDurationMs) ?? q.defaultVisibilityMs, q.maxVisibilityMs);
  }

  private shardOf(topic: string): ShardRef {
    return this.rt.shards[shardFor(this.tenant, topic as Topic, this.rt.shards.length)]!;
  }

  private refForLease(leaseId: unknown): ShardRef {
    checkLeaseId(leaseId);
    return this.leaseShard(leaseId as string);
  }

  private leaseShard(leaseId: string): ShardRef {
    const shard = shardOfLease(leaseId as string, this.rt.shards.length);
    if (shard === undefined) throw new MailboxError('E_STALE_LEASE', `lease ${String(leaseId)} is not a lease of this mailbox`);
    return this.rt.shards[shard]!;
  }

  private toEnqueue(input: SendInput): EnqueueInput {
    const topic = checkTopic(input?.topic) as Topic;
    const payload = checkPayload(input.payload, this.rt.config.queue.maxPayloadBytes);
    const payloadHash = sha256Hex(payload);
    if (input.payloadHash !== undefined && input.payloadHash !== payloadHash) {
      this.rt.metrics.integrityFail('ingress');
      throw new MailboxError('E_INTEGRITY', `payload does not match its payloadHash (topic ${topic}, idemKey ${JSON.stringify(input.idemKey)})`);
    }
    const item: EnqueueInput = { tenant: this.tenant, topic, idemKey: checkIdemKey(input.idemKey), payload, payloadHash };
    const attrs = checkAttrs(input.attrs);
    if (attrs) item.attrs = attrs;
    const delayMs = checkOptionalInt(input.delayMs, 'delayMs', 0, LIMITS.maxDelayMs);
    if (delayMs) item.delayMs = delayMs;
    return item;
  }

  /** A decoded wire item made the shard's EnqueueInput, checked for what the decoder cannot know. */
  private adoptWire(input: WireSendItem): EnqueueInput {
    const payload = checkPayload(input.payload, this.rt.config.queue.maxPayloadBytes);
    const payloadHash = sha256Hex(payload);
    if (input.payloadHash !== undefined && input.payloadHash !== payloadHash) {
      this.rt.metrics.integrityFail('ingress');
      throw new MailboxError('E_INTEGRITY', `payload does not match its payloadHash (topic ${input.topic}, idemKey ${JSON.stringify(input.idemKey)})`);
    }
    // The wire allows any duration; a delay is capped like the embedding API's (same error).
    if (input.delayMs !== undefined && input.delayMs > LIMITS.maxDelayMs) checkInt(input.delayMs, 'delayMs', 0, LIMITS.maxDelayMs);
    const item = input as WireSendItem & EnqueueInput;
    item.tenant = this.tenant;
    item.payloadHash = payloadHash;
    return item;
  }

  private assertOpen(): void {
    if (this.ended) throw new MailboxError('E_UNAVAILABLE', `session ${this.id} has ended`);
  }
}

/** A SEND item as the protocol decoder returns it (a fresh object the wire path may take over). */
export interface WireSendItem {
  topic: Topic;
  idemKey: string;
  payload: Uint8Array;
  attrs?: Attrs;
  delayMs?: number;
  payloadHash?: string;
}

export type { SessionId };
