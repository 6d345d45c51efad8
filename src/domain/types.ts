/**
 * Branded identifiers and the records that the domain, the store and the actors share.
 * Pure data: no I/O, no XState.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Sortable unique message id (26 chars, Crockford base32, ULID layout). */
export type MsgId = Brand<string, 'MsgId'>;
/** One delivery attempt of one message; a newer attempt fences older ones. */
export type LeaseId = Brand<string, 'LeaseId'>;
/** A topic name such as `user:42:inbox`. */
export type Topic = Brand<string, 'Topic'>;
/** 32 lower-case hex digits: the wire's u128 tenant id. */
export type TenantId = Brand<string, 'TenantId'>;
export type ShardIndex = Brand<number, 'ShardIndex'>;
/** Identifies a consumer session (one per WebSocket connection, or an embedded handle). */
export type SessionId = Brand<string, 'SessionId'>;

export const DEFAULT_TENANT = '00000000000000000000000000000000' as TenantId;

export type Attrs = Record<string, string>;

/** Why an attempt ended without an ACK. */
export type AttemptOutcome = 'expired' | 'nacked' | 'session_lost' | 'server_restart';

export interface AttemptRecord {
  attempt: number;
  outcome: AttemptOutcome;
  /** Wall-clock ms (shown to people). */
  at: number;
  reason?: string;
  /** The session that held this attempt's lease (absent in records written before it was kept). */
  session?: SessionId;
}

/** Where a message is in its life; acked messages are deleted, not kept. */
export type MessageState = 'ready' | 'delayed' | 'leased';

/**
 * What the store keeps of a live message, without its payload. Times are wall-clock ms
 * because they must survive a restart; the shard converts them to monotonic deadlines.
 */
export interface MessageMeta {
  msgId: MsgId;
  tenant: TenantId;
  topic: Topic;
  idemKey: string;
  /** Hex SHA-256 of the payload. */
  payloadHash: string;
  size: number;
  attrs?: Attrs;
  /** Wall-clock ms when it was accepted. */
  enqueuedAt: number;
  /** Deliveries so far; the next delivery is attempt + 1. */
  attempt: number;
  state: MessageState;
  /** delayed: visible again at; leased: lease deadline. Wall-clock ms; 0 when ready. */
  dueAt: number;
  leaseId?: LeaseId;
  /** Session holding the lease (released at once when the session ends). */
  owner?: SessionId;
  history: AttemptRecord[];
}

/** A message that ran out of attempts, with why and what happened to each attempt. */
export interface DlqEntry {
  meta: MessageMeta;
  /** The outcome of the last attempt, the one that used up maxAttempts. */
  reason: AttemptOutcome;
  /** Wall-clock ms it entered the DLQ. */
  deadAt: number;
}

/** Idempotency record: the same (tenant, topic, idemKey) inside the window answers with msgId. */
export interface DedupEntry {
  msgId: MsgId;
  payloadHash: string;
  /** Wall-clock ms after which the key may be reused. */
  expiresAt: number;
}

/** What a consumer receives. */
export interface Delivery {
  msgId: MsgId;
  tenant: TenantId;
  topic: Topic;
  attempt: number;
  leaseId: LeaseId;
  /** Wall-clock ms. */
  enqueuedAt: number;
  /** Wall-clock ms. */
  leaseDeadline: number;
  payload: Uint8Array;
  payloadHash: string;
  attrs?: Attrs;
}

/**
 * One store mutation. A shard turns each domain step into ops and commits them as one
 * atomic batch; the reply to the caller waits for that batch.
 *
 * `putMsg.was` is the state the stored record had before (absent for a new record) and
 * `delMsg.state` the state it has: a store may keep ready and held (leased, delayed)
 * messages apart, and needs both to find the record it replaces.
 * `putTopic` and `putShardInfo` carry the counters a paged store reads at load instead of
 * every message; a store that loads everything may ignore them.
 */
export type StoreOp =
  | { op: 'putMsg'; shard: ShardIndex; meta: MessageMeta; payload?: Uint8Array; was?: MessageState }
  | { op: 'delMsg'; shard: ShardIndex; msgId: MsgId; tenant: TenantId; topic: Topic; state: MessageState }
  | { op: 'putDedup'; shard: ShardIndex; key: string; entry: DedupEntry }
  | { op: 'delDedup'; shard: ShardIndex; key: string }
  | { op: 'putDlq'; shard: ShardIndex; entry: DlqEntry; payload?: Uint8Array }
  | { op: 'delDlq'; shard: ShardIndex; msgId: MsgId }
  /** Live messages (ready, delayed and leased) of one topic; 0 removes the record. */
  | { op: 'putTopic'; shard: ShardIndex; tenant: TenantId; topic: Topic; live: number }
  | { op: 'putShardInfo'; shard: ShardIndex; info: ShardInfo };

/** Per-shard facts a store keeps so a shard loads without reading every record. */
export interface ShardInfo {
  dlqDepth: number;
  /** The newest msgId the shard issued: new ids must sort after it. */
  newestId?: MsgId;
}
