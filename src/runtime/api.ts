/**
 * The embedding API: what `createMailbox(config)` returns. The WebSocket transport is a thin
 * layer over exactly this interface (one `Session` per connection).
 */
import type { MailboxError } from '../errors.ts';
import type { Attrs, Delivery, DlqEntry, LeaseId, MsgId, SessionId, TenantId, Topic } from '../domain/types.ts';

export interface SendInput {
  topic: string;
  idemKey: string;
  payload: Uint8Array;
  attrs?: Attrs;
  /** Hold the message this long before it becomes ready. */
  delayMs?: number;
  /** Hex SHA-256 the sender computed; a mismatch refuses the message with E_INTEGRITY. */
  payloadHash?: string;
}

export interface SendResult {
  msgId: MsgId;
  duplicate: boolean;
}

export interface RecvInput {
  topic: string;
  /** Lease length; defaults to queue.defaultVisibilityMs, capped at queue.maxVisibilityMs. */
  visibilityMs?: number;
  maxMessages: number;
  /** Stop adding messages once their payloads reach this many bytes (at least one is returned). */
  maxBytes?: number;
  /** Long-poll: wait up to this long for a first message. */
  waitMs?: number;
}

export interface NackOptions {
  delayMs?: number;
  reason?: string;
}

export interface SubscribeInput {
  topic: string;
  visibilityMs?: number;
  /** Credit window: at most this many unacked deliveries outstanding. */
  prefetch: number;
}

export interface DlqListInput {
  topic?: string;
  reason?: DlqEntry['reason'];
  limit?: number;
  after?: MsgId;
}

export interface DlqReprocessInput {
  topic?: string;
  reason?: DlqEntry['reason'];
  /** At most this many; default all that match. */
  limit?: number;
}

/** One consumer/producer conversation: a WebSocket connection, or an embedded handle. */
export interface Session {
  readonly id: SessionId;
  readonly tenant: TenantId;
  send(input: SendInput): Promise<SendResult>;
  /** Each entry is the result or the error of the matching input; order is kept. */
  sendBatch(inputs: readonly SendInput[]): Promise<Array<SendResult | MailboxError>>;
  recv(input: RecvInput): Promise<Delivery[]>;
  ack(msgId: MsgId, leaseId: LeaseId): Promise<void>;
  nack(msgId: MsgId, leaseId: LeaseId, options?: NackOptions): Promise<void>;
  /** Returns the new lease deadline (wall-clock ms). */
  extend(msgId: MsgId, leaseId: LeaseId, ms: number): Promise<number>;
  /** Deliveries arrive through `onDeliver` of `openSession`; acks refill the credit. */
  subscribe(input: SubscribeInput): Promise<string>;
  unsubscribe(subscriptionId: string): Promise<void>;
  /**
   * Widens a subscription's credit window by `n` (1..1000; the window stops at 10,000) and
   * pushes what is ready into the new room. E_NOT_FOUND when this session has no such subscription.
   */
  credit(subscriptionId: string, n: number): Promise<void>;
  /** Ends the session; its open leases are released at once (`session_lost`). */
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface SessionOptions {
  /** The tenant every operation of the session acts for (default: the default tenant, all zeros). */
  tenant?: TenantId;
  /** Called with pushed deliveries of this session's subscriptions. */
  onDeliver?: (subscriptionId: string, deliveries: Delivery[]) => void;
  /** Called once when the session ends for any reason (closed, crashed, runtime stopping). */
  onClose?: (reason: string) => void;
}

/** The DLQ of one tenant at a time: `tenant` defaults to the default tenant, and no call sees another tenant's entries. */
export interface DlqApi {
  list(input?: DlqListInput, tenant?: TenantId): Promise<Array<DlqEntry & { payload?: Uint8Array }>>;
  /** Moves matching entries back to ready with attempts reset, at queue.reprocessPerSecond. Returns how many. */
  reprocess(input?: DlqReprocessInput, tenant?: TenantId): Promise<number>;
  /** Deletes matching entries. Returns how many. */
  purge(input?: DlqReprocessInput, tenant?: TenantId): Promise<number>;
}

export type ReadinessState = 'booting' | 'ready' | 'degraded' | 'draining' | 'stopped';

export interface ReadinessReport {
  state: ReadinessState;
  ready: boolean;
  /** Why the mailbox is not ready (missing conditions or degradation causes). */
  reasons: string[];
  /** Redis store only: mode, instance, the Redis (without password), reachable and the last PING round trip. */
  redis?: { mode: 'shared' | 'owned'; instance: string; redis: string; prefix: string; reachable: boolean; latencyMs?: number; error?: string };
}

/** One node of the supervisor state dump. */
export interface TreeNode {
  path: string;
  kind: 'supervisor' | 'shard' | 'session' | 'dlq' | 'readiness' | 'store' | 'bus' | 'ingress' | 'admin' | 'worker';
  state: string;
  restarts: number;
  lastCrash?: { reason: string; at: number };
  uptimeMs: number;
  depths?: { ready: number; leased: number; delayed: number; dlq: number };
  /** Facts about the node an operator asks first (the store: which Redis, which instance, its latency). */
  info?: Record<string, string | number | boolean>;
  children?: TreeNode[];
}

/** The mailbox's own send / recv / ack / nack / extend and `dlq` act for the default tenant; `openSession({ tenant })` for another. */
export interface Mailbox extends Omit<Session, 'id' | 'tenant' | 'close' | 'closed' | 'subscribe' | 'unsubscribe' | 'credit'> {
  openSession(options?: SessionOptions): Session;
  readonly dlq: DlqApi;
  tree(): TreeNode;
  /** Crashes one actor as a real failure would (fault injection for chaos drills). */
  kill(path: string, reason?: string): Promise<void>;
  readiness(): ReadinessReport;
  /** Drain: refuse new SENDs, wait up to drainTimeoutMs for leases to settle, stop. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

export type { Delivery, DlqEntry, MsgId, LeaseId, Topic, TenantId };
