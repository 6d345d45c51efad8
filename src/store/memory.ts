/**
 * The amnesia store: everything in RAM, nothing on disk. Payload buffers of acked or
 * purged messages are zero-filled when the store lets go of them.
 */
import { topicKey } from '../domain/routing.ts';
import type { DedupEntry, DlqEntry, MessageMeta, MsgId, ShardIndex, ShardInfo, StoreOp, TenantId, Topic } from '../domain/types.ts';
import { MailboxError } from '../errors.ts';
import { cloneDedup, cloneDlqEntry, cloneMeta } from './clone.ts';
import { StoreFaults } from './faults.ts';
import { payloadDrops, validateOps } from './ops.ts';
import type { DedupScan, DlqQuery, ReadyPageQuery, ShardSnapshot, Store } from './store.ts';

interface ShardData {
  msgs: Map<MsgId, MessageMeta>;
  /** Live messages per topic and the shard info, as a paged store keeps them (see `paged`). */
  topics: Map<string, { tenant: TenantId; topic: Topic; live: number }>;
  info: ShardInfo | undefined;
  /** Shared by a live message and its DLQ entry (see the payload rule in ops.ts). */
  payloads: Map<MsgId, Uint8Array>;
  dedup: Map<string, DedupEntry>;
  dlq: Map<MsgId, DlqEntry>;
}

/**
 * In-memory {@link Store}. Commits apply synchronously inside `commit()` and the returned
 * promise is already settled, so a read issued right after sees them.
 *
 * Data survives `close()` + `open()` on the same instance (a restarted store actor that
 * keeps the instance keeps the messages); a new instance starts empty.
 *
 * Ownership: stored metas, entries and payloads are copies of what was committed.
 * `getPayloads` / `getDlqPayload` return the store's own buffer without copying: callers
 * must not mutate it, and it is zero-filled once the message is deleted (acked), so a
 * holder must be done with it by then.
 *
 * @example
 * const store = new MemoryStore();
 * await store.open();
 * await store.commit([{ op: 'putMsg', shard, meta, payload }]);
 * store.faults.failWrites = 'full'; // later commits reject with E_UNAVAILABLE
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  /**
   * `all` (the amnesia store): everything is in RAM already, so a shard takes all of it at load
   * and never pages. `paged` makes this store load like LevelDB (held messages and counters
   * only), so drills and tests can run the paging paths fast and without a disk.
   */
  readonly residency: 'all' | 'paged';
  readonly faults = new StoreFaults();
  private readonly shards = new Map<number, ShardData>();
  private state: 'new' | 'open' | 'closed' = 'new';
  private commits = 0;
  private opsApplied = 0;

  constructor(options: { paged?: boolean } = {}) {
    this.residency = options.paged ? 'paged' : 'all';
  }

  async open(): Promise<void> {
    this.state = 'open';
  }

  async close(): Promise<void> {
    this.state = 'closed';
  }

  commit(ops: readonly StoreOp[]): Promise<void> {
    // Injected latency (chaos): the commit lands later, still in order.
    if (this.faults.commitDelayMs > 0 || this.faults.pendingCommits > 0) return this.faults.delayed(() => this.commitNow(ops));
    return this.commitNow(ops);
  }

  private commitNow(ops: readonly StoreOp[]): Promise<void> {
    try {
      this.assertOpen();
      validateOps(ops);
      const fault = this.faults.check(ops);
      if (fault !== undefined) throw fault;
      this.apply(ops);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async loadShard(shard: ShardIndex): Promise<ShardSnapshot> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    this.assertOpen();
    const data = this.shards.get(shard);
    const snapshot: ShardSnapshot = { ready: [], held: [], topics: [], dedup: [], dlqDepth: data?.dlq.size ?? 0 };
    if (data === undefined) return snapshot;
    if (this.residency === 'paged') {
      for (const meta of data.msgs.values()) if (meta.state !== 'ready') snapshot.held.push(cloneMeta(meta));
      for (const t of data.topics.values()) snapshot.topics.push({ ...t });
      snapshot.dlqDepth = data.info?.dlqDepth ?? 0;
      if (data.info?.newestId !== undefined) snapshot.newestId = data.info.newestId;
      return snapshot;
    }
    for (const meta of data.msgs.values()) (meta.state === 'ready' ? snapshot.ready : snapshot.held).push(cloneMeta(meta));
    snapshot.ready.sort(byMsgId);
    for (const [key, entry] of data.dedup) snapshot.dedup.push([key, cloneDedup(entry)]);
    return snapshot;
  }

  async getPayloads(shard: ShardIndex, ids: readonly MsgId[]): Promise<Array<Uint8Array | undefined>> {
    this.assertOpen();
    const data = this.shards.get(shard);
    return ids.map((id) => data?.payloads.get(id));
  }

  /** A scan of every message of the shard: cheap enough for the paged memory store of drills and tests, which is all that pages from it. */
  async readyPage(shard: ShardIndex, tenant: TenantId, topic: Topic, query: ReadyPageQuery): Promise<MessageMeta[]> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    this.assertOpen();
    const data = this.shards.get(shard);
    if (data === undefined || query.limit <= 0) return [];
    const page = [...data.msgs.values()].filter(
      (m) => m.state === 'ready' && m.tenant === tenant && m.topic === topic &&
        (query.after === undefined || m.msgId > query.after) && (query.before === undefined || m.msgId < query.before),
    );
    return page.sort(byMsgId).slice(0, query.limit).map(cloneMeta);
  }

  async getDedup(shard: ShardIndex, keys: readonly string[]): Promise<Array<DedupEntry | undefined>> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    this.assertOpen();
    const data = this.shards.get(shard);
    return keys.map((k) => {
      const entry = data?.dedup.get(k);
      return entry === undefined ? undefined : cloneDedup(entry);
    });
  }

  async scanDedup(shard: ShardIndex, query: DedupScan): Promise<Array<[string, DedupEntry]>> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    this.assertOpen();
    const data = this.shards.get(shard);
    if (data === undefined || query.limit <= 0) return [];
    const keys = [...data.dedup.keys()].filter((k) => query.after === undefined || k > query.after).sort();
    return keys.slice(0, query.limit).map((k) => [k, cloneDedup(data.dedup.get(k)!)]);
  }

  async listDlq(shard: ShardIndex, query: DlqQuery): Promise<DlqEntry[]> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    this.assertOpen();
    const data = this.shards.get(shard);
    if (data === undefined || query.limit <= 0) return [];
    const ids = [...data.dlq.keys()].sort();
    const out: DlqEntry[] = [];
    for (const id of ids) {
      if (query.after !== undefined && id <= query.after) continue;
      const entry = data.dlq.get(id)!;
      if (query.topic !== undefined && entry.meta.topic !== query.topic) continue;
      if (query.reason !== undefined && entry.reason !== query.reason) continue;
      out.push(cloneDlqEntry(entry));
      if (out.length >= query.limit) break;
    }
    return out;
  }

  async getDlqPayload(shard: ShardIndex, msgId: MsgId): Promise<Uint8Array | undefined> {
    this.assertOpen();
    const data = this.shards.get(shard);
    return data !== undefined && data.dlq.has(msgId) ? data.payloads.get(msgId) : undefined;
  }

  /** Commits and ops applied since construction. */
  stats(): { commits: number; ops: number } {
    return { commits: this.commits, ops: this.opsApplied };
  }

  /** Validation and fault checks already passed: nothing below can throw. */
  private apply(ops: readonly StoreOp[]): void {
    for (const op of ops) {
      const data = this.shard(op.shard);
      switch (op.op) {
        case 'putMsg':
          // Ops are the store's once committed (Store contract): keep the op's meta, no second copy.
          data.msgs.set(op.meta.msgId, op.meta);
          if (op.payload !== undefined) data.payloads.set(op.meta.msgId, Buffer.from(op.payload));
          break;
        case 'delMsg':
          data.msgs.delete(op.msgId);
          break;
        case 'putDedup':
          data.dedup.set(op.key, op.entry);
          break;
        case 'delDedup':
          data.dedup.delete(op.key);
          break;
        case 'putDlq':
          data.dlq.set(op.entry.meta.msgId, op.entry);
          if (op.payload !== undefined) data.payloads.set(op.entry.meta.msgId, Buffer.from(op.payload));
          break;
        case 'delDlq':
          data.dlq.delete(op.msgId);
          break;
        case 'putTopic': {
          const key = topicKey(op.tenant, op.topic);
          if (op.live === 0) data.topics.delete(key);
          else data.topics.set(key, { tenant: op.tenant, topic: op.topic, live: op.live });
          break;
        }
        case 'putShardInfo':
          data.info = op.info;
          break;
      }
    }
    for (const { shard, msgId } of payloadDrops(ops)) {
      const data = this.shard(shard);
      const payload = data.payloads.get(msgId);
      if (payload !== undefined) {
        payload.fill(0);
        data.payloads.delete(msgId);
      }
    }
    this.commits++;
    this.opsApplied += ops.length;
  }

  private shard(index: number): ShardData {
    let data = this.shards.get(index);
    if (data === undefined) {
      data = { msgs: new Map(), topics: new Map(), info: undefined, payloads: new Map(), dedup: new Map(), dlq: new Map() };
      this.shards.set(index, data);
    }
    return data;
  }

  private assertOpen(): void {
    if (this.state !== 'open') {
      throw new MailboxError('E_UNAVAILABLE', `storage: memory store is ${this.state === 'new' ? 'not open yet' : 'closed'}`);
    }
  }
}

function byMsgId(a: MessageMeta, b: MessageMeta): number {
  return a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0;
}
