import type { DedupEntry, DlqEntry, MessageMeta, MsgId, ShardIndex, StoreOp } from '../domain/types.ts';

export type StoreKind = 'memory' | 'level';

/** Everything a shard needs to rebuild its indexes after a (re)start. */
export interface ShardSnapshot {
  /** Every live message of the shard (ready, delayed or leased), without payloads. */
  messages: MessageMeta[];
  /** Idempotency records, expired ones included (the shard drops those). */
  dedup: Array<[key: string, entry: DedupEntry]>;
  dlqDepth: number;
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
 * - `loadShard` and the reads observe every commit that resolved before they were called.
 * - A failed commit rejects with a MailboxError `E_UNAVAILABLE` and leaves nothing behind.
 * - Ops belong to the store once passed to `commit`: the caller never mutates them (or
 *   anything they reference) afterwards, so a store may keep them without copying. Reads
 *   hand out copies.
 */
export interface Store {
  readonly kind: StoreKind;
  open(): Promise<void>;
  close(): Promise<void>;
  commit(ops: readonly StoreOp[]): Promise<void>;
  loadShard(shard: ShardIndex): Promise<ShardSnapshot>;
  /** Payloads of live messages, in the order of `ids` (undefined where gone). */
  getPayloads(shard: ShardIndex, ids: readonly MsgId[]): Promise<Array<Uint8Array | undefined>>;
  listDlq(shard: ShardIndex, query: DlqQuery): Promise<DlqEntry[]>;
  getDlqPayload(shard: ShardIndex, msgId: MsgId): Promise<Uint8Array | undefined>;
}
