/**
 * The memory store with the latency of a disk: every commit lands one event-loop turn later
 * (in order), as LevelDB's would. Without it an in-memory mailbox answers every request within
 * microtasks, and a kill (a timer) could only ever hit idle actors; with it, kills land while
 * batches are in flight and replies are owed, which is what the drills are for.
 *
 * Reads keep the Store contract: `loadShard`, `listDlq` and the paging reads wait for commits
 * issued before them.
 */
import type { DedupEntry, DlqEntry, MessageMeta, MsgId, ShardIndex, StoreOp, TenantId, Topic } from '../src/domain/types.ts';
import { MemoryStore } from '../src/store/memory.ts';
import type { DedupScan, DlqQuery, ReadyPageQuery, ShardSnapshot, Store } from '../src/store/store.ts';
import type { FaultableStore } from '../src/store/open-store.ts';

export class LatencyStore implements Store {
  readonly kind = 'memory' as const;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly inner: MemoryStore = new MemoryStore()) {}

  get residency(): MemoryStore['residency'] {
    return this.inner.residency;
  }

  get faults(): MemoryStore['faults'] {
    return this.inner.faults;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  async close(): Promise<void> {
    await this.tail;
    await this.inner.close();
  }

  commit(ops: readonly StoreOp[]): Promise<void> {
    const done = this.tail.then(() => new Promise<void>((r) => setImmediate(r))).then(() => this.inner.commit(ops));
    this.tail = done.then(noop, noop);
    return done;
  }

  async loadShard(shard: ShardIndex): Promise<ShardSnapshot> {
    await this.tail;
    return this.inner.loadShard(shard);
  }

  getPayloads(shard: ShardIndex, ids: readonly MsgId[]): Promise<Array<Uint8Array | undefined>> {
    return this.inner.getPayloads(shard, ids);
  }

  async listDlq(shard: ShardIndex, query: DlqQuery): Promise<DlqEntry[]> {
    await this.tail;
    return this.inner.listDlq(shard, query);
  }

  getDlqPayload(shard: ShardIndex, msgId: MsgId): Promise<Uint8Array | undefined> {
    return this.inner.getDlqPayload(shard, msgId);
  }

  async readyPage(shard: ShardIndex, tenant: TenantId, topic: Topic, query: ReadyPageQuery): Promise<MessageMeta[]> {
    await this.tail;
    return this.inner.readyPage(shard, tenant, topic, query);
  }

  async getDedup(shard: ShardIndex, keys: readonly string[]): Promise<Array<DedupEntry | undefined>> {
    await this.tail;
    return this.inner.getDedup(shard, keys);
  }

  async scanDedup(shard: ShardIndex, query: DedupScan): Promise<Array<[string, DedupEntry]>> {
    await this.tail;
    return this.inner.scanDedup(shard, query);
  }
}

/** A fresh latency store, typed as the runtime's store option wants it; `paged` loads like LevelDB. */
export function latencyStore(options: { paged?: boolean } = {}): FaultableStore {
  return new LatencyStore(new MemoryStore(options));
}

function noop(): void {}
