import type { DedupEntry, DlqEntry, MessageMeta, MsgId, ShardIndex, StoreOp, TenantId, Topic } from '../domain/types.ts';

export type StoreKind = 'memory' | 'level' | 'redis';

/**
 * Everything a shard needs to rebuild its indexes after a (re)start. A store that keeps
 * everything in RAM hands over every message; a paged store (LevelDB) hands over the held
 * messages and per-topic counts, and the shard pages ready messages in with `readyPage`.
 */
export interface ShardSnapshot {
  /** Ready messages handed over now, in msgId order (all of them, or none for a paged store). */
  ready: MessageMeta[];
  /** Every leased or delayed message, without payloads. */
  held: MessageMeta[];
  /** Live messages per topic, for a store whose ready messages stay behind (`ready` is then empty). */
  topics: Array<{ tenant: TenantId; topic: Topic; live: number }>;
  /** Idempotency records handed over now (expired ones included; the shard drops those). A paged store hands none: see `getDedup`. */
  dedup: Array<[key: string, entry: DedupEntry]>;
  dlqDepth: number;
  /** The newest msgId the shard issued, when the store knows it. */
  newestId?: MsgId;
}

export interface ReadyPageQuery {
  /** Messages with msgIds after this one (exclusive). */
  after?: MsgId;
  /** Messages with msgIds before this one (exclusive). */
  before?: string;
  limit: number;
}

export interface DedupScan {
  /** Records with keys after this one (exclusive). */
  after?: string;
  limit: number;
}

export interface DlqQuery {
  topic?: string;
  /** Only entries whose reason is this one. */
  reason?: DlqEntry['reason'];
  limit: number;
  /** Entries after this msgId (ascending msgId order). */
  after?: MsgId;
}

/**
 * The single source of truth. Actors keep only what they can rebuild from here.
 *
 * Contract every implementation keeps:
 * - `commit` applies its ops atomically (all or none) and resolves once they are as
 *   durable as the configured durability promises; commits resolve in the order issued.
 * - `loadShard` and the reads observe every commit that resolved before they were called (a
 *   shard issues its page and idempotency reads only once its own earlier ops are durable).
 * - A failed commit rejects with a MailboxError `E_UNAVAILABLE` and leaves nothing behind.
 * - Ops belong to the store once passed to `commit`: the caller never mutates them (or
 *   anything they reference) afterwards, so a store may keep them without copying. Reads
 *   hand out copies.
 */
export interface Store {
  readonly kind: StoreKind;
  /**
   * `all`: `loadShard` hands over every ready message and idempotency record (the store is RAM
   * anyway). `paged`: it hands over counts, and the shard reads pages and keys on demand.
   */
  readonly residency: 'all' | 'paged';
  open(): Promise<void>;
  close(): Promise<void>;
  commit(ops: readonly StoreOp[]): Promise<void>;
  loadShard(shard: ShardIndex): Promise<ShardSnapshot>;
  /** Payloads of live or dead-lettered messages, in the order of `ids` (undefined where gone). */
  getPayloads(shard: ShardIndex, ids: readonly MsgId[]): Promise<Array<Uint8Array | undefined>>;
  /** Ready messages of one topic in msgId order (FIFO), at most `limit`. */
  readyPage(shard: ShardIndex, tenant: TenantId, topic: Topic, query: ReadyPageQuery): Promise<MessageMeta[]>;
  /** Idempotency records by key, in the order of `keys` (undefined where none; expired ones included). */
  getDedup(shard: ShardIndex, keys: readonly string[]): Promise<Array<DedupEntry | undefined>>;
  /** Idempotency records in key order, for the sweep that drops expired ones. */
  scanDedup(shard: ShardIndex, query: DedupScan): Promise<Array<[key: string, entry: DedupEntry]>>;
  listDlq(shard: ShardIndex, query: DlqQuery): Promise<DlqEntry[]>;
  getDlqPayload(shard: ShardIndex, msgId: MsgId): Promise<Uint8Array | undefined>;
}
