/**
 * The `redis` store: the mailbox's records in Redis (or Redis Cluster), one Lua script per
 * commit. Key layout in redis-keys.ts, scripts in redis-scripts.ts, the connection in
 * redis-client.ts.
 *
 * It loads like LevelDB (`paged`): held messages and counters at load, ready messages paged
 * in by topic, idempotency records read by key. Each shard is owned by one instance at a time:
 * a load takes the shard with a new fencing epoch and every commit script checks it, so an
 * instance that lost its shard (or a second instance started on the same `redis.prefix`)
 * cannot write over the owner's records. Ownership has a TTL the owner renews; the same
 * instance (same `instanceId`) takes its shards back at once after a crash.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { DedupEntry, DlqEntry, MessageMeta, MsgId, ShardIndex, ShardInfo, StoreOp, TenantId, Topic } from '../domain/types.ts';
import { MailboxError } from '../errors.ts';
import { StoreFaults } from './faults.ts';
import { payloadDrops, validateOps } from './ops.ts';
import { PRIVATE_FILE_MODE } from './private-files.ts';
import { packr } from './record-codec.ts';
import { createClient, describeTarget, type RedisClient, type RedisTarget } from './redis-client.ts';
import { lexAfter, lexBefore, shardKeys, type ShardKeys } from './redis-keys.ts';
import { ACQUIRE_LUA, COMMIT_KEYS, COMMIT_LUA, OP, RELEASE_LUA, RENEW_LUA } from './redis-scripts.ts';
import { decodeRedisDlqEntry, decodeRedisMeta, defineSharedScripts, SharedQueue, type SharedPolicy } from './redis-shared.ts';
import type { DedupScan, DlqQuery, ReadyPageQuery, ShardSnapshot, Store } from './store.ts';

export interface RedisStoreOptions extends RedisTarget {
  /** Every key starts with `{<prefix>:<shard>}`; instances sharing a prefix share the data. */
  prefix: string;
  /** Who this process is to the other instances; stable across restarts so a crash does not lock its shards out. */
  instanceId?: string;
  /** Where the instance id is kept (created 0600 on first open) when `instanceId` is not given. */
  instanceIdFile?: string;
  /** Ownership of a shard lapses this long after the owner stopped renewing it (default 15 s). */
  ownerTtlMs?: number;
  /**
   * Shared mode: Redis holds the queue and every instance on the prefix serves every shard
   * (actors/shared-shard-core.ts through `sharedQueue`); no shard ownership is taken.
   */
  shared?: boolean;
  /** > 0: a commit resolves only once this many replicas confirm it (`WAIT`), single Redis only. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
}

interface Scripted {
  mbxCommit(numKeys: number, ...args: Array<string | Buffer>): Promise<unknown>;
  mbxAcquire(owner: string, epoch: string, instance: string, ttl: number): Promise<string>;
  mbxRenew(owner: string, token: string, ttl: number): Promise<number>;
  mbxRelease(owner: string, token: string): Promise<number>;
}

const DEFAULT_OWNER_TTL_MS = 15_000;

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly residency = 'paged' as const;
  readonly faults = new StoreFaults();
  readonly where: string;
  private client: (RedisClient & Scripted) | undefined;
  private state: 'new' | 'open' | 'closed' = 'new';
  private instance = '';
  /** The ownership of each shard this store has written or loaded (a pending or settled acquire). */
  private readonly owners = new Map<ShardIndex, Promise<string>>();
  /** Shards whose ownership was lost: their RAM state may be stale, so only a load (which rebuilds it) takes them again. */
  private readonly lost = new Set<ShardIndex>();
  /** The owner tokens acquired so far, for renewal and release. */
  private readonly tokens = new Map<ShardIndex, string>();
  private readonly keys = new Map<ShardIndex, ShardKeys>();
  private renewTimer: NodeJS.Timeout | undefined;
  /** Shared mode: the pub/sub connection wake-ups arrive on, and who listens per channel. */
  private subscriber: RedisClient | undefined;
  private readonly wakeListeners = new Map<string, Set<(message: string) => void>>();
  /** The last commit issued: the next one resolves after it (commits to different cluster nodes may answer out of order). */
  private last: Promise<unknown> = Promise.resolve();
  private readonly ttl: number;
  /** The last PING (every renewal interval): what /readyz and the tree report about Redis. */
  private lastPing: { ok: boolean; ms: number; at: number; error?: string } | undefined;

  constructor(private readonly options: RedisStoreOptions) {
    if (!/^[^{}\s]+$/.test(options.prefix)) throw new MailboxError('E_CONFIG', `invalid configuration: redis.prefix must be non-empty without braces or spaces, got ${JSON.stringify(options.prefix)}`);
    this.where = describeTarget(options);
    this.ttl = options.ownerTtlMs ?? DEFAULT_OWNER_TTL_MS;
  }

  async open(): Promise<void> {
    if (this.state === 'open') return;
    this.instance = this.options.instanceId ?? (await this.instanceFromFile());
    if (!/^[A-Za-z0-9._-]+$/.test(this.instance)) throw new MailboxError('E_CONFIG', `redis store: instance id must be [A-Za-z0-9._-]+, got ${JSON.stringify(this.instance)}`);
    const client = createClient(this.options) as RedisClient & Scripted;
    client.defineCommand('mbxCommit', { lua: COMMIT_LUA });
    client.defineCommand('mbxAcquire', { lua: ACQUIRE_LUA, numberOfKeys: 2 });
    client.defineCommand('mbxRenew', { lua: RENEW_LUA, numberOfKeys: 1 });
    client.defineCommand('mbxRelease', { lua: RELEASE_LUA, numberOfKeys: 1 });
    if (this.options.shared) defineSharedScripts(client);
    // ioredis reports connection trouble as 'error' events; commands fail on their own, so
    // the event needs a listener only to stay out of the process's unhandled errors.
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
    } catch (err) {
      client.disconnect();
      throw this.unavailable(err, 'cannot reach');
    }
    if (this.options.shared) await this.openSubscriber(client);
    this.client = client;
    this.state = 'open';
    await this.ping();
    this.renewTimer = setInterval(() => {
      void this.renew();
      void this.ping();
    }, Math.max(100, Math.min(1_000, Math.floor(this.ttl / 3))));
    this.renewTimer.unref();
  }

  async close(): Promise<void> {
    if (this.state !== 'open') {
      if (this.state === 'new') this.state = 'closed';
      return;
    }
    this.state = 'closed';
    clearInterval(this.renewTimer);
    const client = this.client!;
    this.client = undefined;
    await this.last.catch(() => {});
    // A clean close hands the shards back at once instead of after the TTL.
    await Promise.all([...this.tokens].map(([shard, token]) => client.mbxRelease(this.keysOf(shard).owner, token).catch(() => 0)));
    this.tokens.clear();
    this.owners.clear();
    await client.quit().catch(() => client.disconnect());
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.wakeListeners.clear();
    await subscriber?.quit().catch(() => subscriber.disconnect());
  }

  /** Redis as this store last saw it: reachable, PING round trip, mode, instance. */
  health(): { mode: 'shared' | 'owned'; instance: string; redis: string; prefix: string; reachable: boolean; latencyMs?: number; error?: string } {
    const ping = this.lastPing;
    const out: ReturnType<RedisStore['health']> = {
      mode: this.options.shared ? 'shared' : 'owned', instance: this.instance, redis: this.where, prefix: this.options.prefix,
      reachable: this.state === 'open' && (ping?.ok ?? true),
    };
    if (ping?.ok) out.latencyMs = Math.round(ping.ms * 100) / 100;
    if (ping?.error !== undefined) out.error = ping.error;
    return out;
  }

  private async ping(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    const t0 = performance.now();
    try {
      await client.ping();
      this.lastPing = { ok: true, ms: performance.now() - t0, at: Date.now() };
    } catch (err) {
      this.lastPing = { ok: false, ms: performance.now() - t0, at: Date.now(), error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** This process's instance id (after open). */
  get instanceId(): string {
    return this.instance;
  }

  get isShared(): boolean {
    return this.options.shared === true;
  }

  /** Shared mode: one shard's queue operations on this store's connection. */
  sharedQueue(shard: ShardIndex, policy: SharedPolicy): SharedQueue {
    return new SharedQueue(this.live(), this.options.prefix, shard, policy);
  }

  /**
   * Shared mode: calls `listener` with each message on `channel` (a shard's wake channel), and
   * with `'*'` after the subscription was lost and made again (wake-ups may have been missed).
   * Returns the unsubscribe.
   */
  onWake(channel: string, listener: (message: string) => void): () => void {
    let set = this.wakeListeners.get(channel);
    if (set === undefined) {
      this.wakeListeners.set(channel, (set = new Set()));
      void this.subscriber?.subscribe(channel).catch(() => {});
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.wakeListeners.get(channel) === set) {
        this.wakeListeners.delete(channel);
        void this.subscriber?.unsubscribe(channel).catch(() => {});
      }
    };
  }

  private async openSubscriber(client: RedisClient): Promise<void> {
    const subscriber = (client.duplicate as () => RedisClient).call(client);
    subscriber.on('error', () => {});
    subscriber.on('message', (channel: string, message: string) => {
      for (const listener of this.wakeListeners.get(channel) ?? []) listener(message);
    });
    let ready = 0;
    // ioredis subscribes again by itself after a reconnect; what was published meanwhile is lost, so everyone looks again.
    subscriber.on('ready', () => {
      if (ready++ === 0) return;
      for (const set of this.wakeListeners.values()) for (const listener of set) listener('*');
    });
    try {
      await subscriber.connect();
    } catch (err) {
      subscriber.disconnect();
      client.disconnect();
      throw this.unavailable(err, 'cannot reach');
    }
    this.subscriber = subscriber;
  }

  commit(ops: readonly StoreOp[]): Promise<void> {
    if (this.faults.commitDelayMs > 0 || this.faults.pendingCommits > 0) return this.faults.delayed(() => this.commitNow(ops));
    return this.commitNow(ops);
  }

  private commitNow(ops: readonly StoreOp[]): Promise<void> {
    let sent: Promise<unknown>;
    try {
      const client = this.live();
      validateOps(ops);
      const fault = this.faults.check(ops);
      if (fault !== undefined) throw fault;
      // One script per shard: a commit is atomic per shard (every commit the runtime issues names one).
      const byShard = new Map<ShardIndex, StoreOp[]>();
      for (const op of ops) {
        let list = byShard.get(op.shard);
        if (list === undefined) byShard.set(op.shard, (list = []));
        list.push(op);
      }
      const calls: Array<Promise<unknown>> = [];
      for (const [shard, list] of byShard) calls.push(this.commitShard(client, shard, list));
      sent = Promise.all(calls);
    } catch (err) {
      return Promise.reject(err);
    }
    const ordered = this.last.then(() => sent, () => sent).then(
      () => undefined,
      (err: unknown) => {
        throw err instanceof MailboxError ? err : this.unavailable(err, 'commit failed on');
      },
    );
    this.last = ordered.catch(() => {});
    return ordered;
  }

  private async commitShard(client: RedisClient & Scripted, shard: ShardIndex, ops: readonly StoreOp[]): Promise<void> {
    // Every commit takes this one hop (also when the shard is owned already), so commits to a shard go out in the order issued.
    const owned = this.ownership(shard);
    const token = await owned;
    const k = this.keysOf(shard);
    const keys: string[] = COMMIT_KEYS.map((name) => k[name]);
    const readyIndex = new Map<string, number>();
    const ready = (tenant: TenantId, topic: Topic): string => {
      const key = k.ready(tenant, topic);
      let index = readyIndex.get(key);
      if (index === undefined) {
        keys.push(key);
        readyIndex.set(key, (index = keys.length));
      }
      return String(index);
    };
    const args: Array<string | Buffer> = [token];
    for (const op of ops) {
      switch (op.op) {
        case 'putMsg': {
          const m = op.meta;
          args.push(OP.putMsg, m.msgId, packr.pack(m), ready(m.tenant, m.topic), m.state === 'ready' ? '1' : '0');
          if (op.payload === undefined) args.push('0', '');
          else args.push('1', asBuffer(op.payload));
          break;
        }
        case 'delMsg':
          args.push(OP.delMsg, op.msgId, ready(op.tenant, op.topic));
          break;
        case 'putDedup':
          args.push(OP.putDedup, op.key, packr.pack(op.entry));
          break;
        case 'delDedup':
          args.push(OP.delDedup, op.key);
          break;
        case 'putDlq':
          args.push(OP.putDlq, op.entry.meta.msgId, packr.pack(op.entry));
          if (op.payload === undefined) args.push('0', '');
          else args.push('1', asBuffer(op.payload));
          break;
        case 'delDlq':
          args.push(OP.delDlq, op.msgId);
          break;
        case 'putTopic':
          args.push(OP.putTopic, `${op.tenant}/${op.topic}`, op.live === 0 ? '' : packr.pack([op.tenant, op.topic, op.live]));
          break;
        case 'putShardInfo':
          args.push(OP.putShardInfo, packr.pack(op.info));
          break;
      }
    }
    for (const drop of payloadDrops(ops)) args.push(OP.dropPayload, drop.msgId);
    try {
      await client.mbxCommit(keys.length, ...keys, ...args);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message.startsWith('MBXFENCED')) {
        if (this.owners.get(shard) === owned) this.loseShard(shard);
        throw new MailboxError('E_UNAVAILABLE', `storage: ${this.where}: shard ${shard} under prefix ${this.options.prefix} is no longer owned by this instance (now: ${message.slice(10)}); it reloads`, { cause: err, retryAfterMs: 1_000 });
      }
      throw this.unavailable(err, 'commit failed on');
    }
    // WAIT goes to the connection that ran the script: one Redis only (config refuses it with a cluster).
    if ((this.options.waitReplicas ?? 0) > 0 && this.options.cluster.length === 0) {
      const confirmed = Number(await client.wait(this.options.waitReplicas!, this.options.waitTimeoutMs ?? 1_000));
      if (confirmed < this.options.waitReplicas!) {
        throw new MailboxError('E_UNAVAILABLE', `storage: ${this.where}: ${confirmed} of ${this.options.waitReplicas} replicas confirmed a commit within ${this.options.waitTimeoutMs ?? 1_000} ms`, { retryAfterMs: 1_000 });
      }
    }
  }

  async loadShard(shard: ShardIndex): Promise<ShardSnapshot> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    const client = this.live();
    const k = this.keysOf(shard);
    try {
      // A load always takes a new epoch: whatever an earlier holder still has in flight is fenced off.
      await this.ownership(shard, true);
      const [topics, heldIds, info] = await Promise.all([client.hgetallBuffer(k.topics), client.smembers(k.held), client.getBuffer(k.info)]);
      const snapshot: ShardSnapshot = { ready: [], held: [], topics: [], dedup: [], dlqDepth: 0 };
      for (const value of Object.values(topics)) {
        const [tenant, topic, live] = packr.unpack(value) as [TenantId, Topic, number];
        snapshot.topics.push({ tenant, topic, live });
      }
      snapshot.topics.sort((a, b) => compare(`${a.tenant}/${a.topic}`, `${b.tenant}/${b.topic}`));
      heldIds.sort(compare);
      for (const meta of await this.metas(client, k, heldIds as MsgId[])) if (meta !== undefined) snapshot.held.push(meta);
      if (info !== null) {
        const parsed = packr.unpack(info) as ShardInfo;
        snapshot.dlqDepth = parsed.dlqDepth;
        if (parsed.newestId !== undefined) snapshot.newestId = parsed.newestId;
      }
      return snapshot;
    } catch (err) {
      throw err instanceof MailboxError ? err : this.unavailable(err, 'cannot load a shard from');
    }
  }

  async getPayloads(shard: ShardIndex, ids: readonly MsgId[]): Promise<Array<Uint8Array | undefined>> {
    const client = this.live();
    if (ids.length === 0) return [];
    const values = await this.read(() => client.hmgetBuffer(this.keysOf(shard).payloads, ...ids));
    return values.map((v) => v ?? undefined);
  }

  async readyPage(shard: ShardIndex, tenant: TenantId, topic: Topic, query: ReadyPageQuery): Promise<MessageMeta[]> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    const client = this.live();
    if (query.limit <= 0) return [];
    const k = this.keysOf(shard);
    const ids = await this.read(() => client.zrangebylex(k.ready(tenant, topic), lexAfter(query.after), lexBefore(query.before), 'LIMIT', 0, query.limit));
    const metas = await this.metas(client, k, ids as MsgId[]);
    return metas.filter((m): m is MessageMeta => m !== undefined && m.state === 'ready');
  }

  async getDedup(shard: ShardIndex, keys: readonly string[]): Promise<Array<DedupEntry | undefined>> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    const client = this.live();
    if (keys.length === 0) return [];
    const values = await this.read(() => client.hmgetBuffer(this.keysOf(shard).dedup, ...keys));
    return values.map((v) => (v === null ? undefined : (packr.unpack(v) as DedupEntry)));
  }

  async scanDedup(shard: ShardIndex, query: DedupScan): Promise<Array<[string, DedupEntry]>> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    const client = this.live();
    if (query.limit <= 0) return [];
    const k = this.keysOf(shard);
    const keys = await this.read(() => client.zrangebylex(k.dedupKeys, lexAfter(query.after), '+', 'LIMIT', 0, query.limit));
    if (keys.length === 0) return [];
    const values = await this.read(() => client.hmgetBuffer(k.dedup, ...keys));
    const out: Array<[string, DedupEntry]> = [];
    keys.forEach((key, i) => {
      const v = values[i];
      if (v !== null && v !== undefined) out.push([key, packr.unpack(v) as DedupEntry]);
    });
    return out;
  }

  async listDlq(shard: ShardIndex, query: DlqQuery): Promise<DlqEntry[]> {
    if (this.faults.pendingCommits > 0) await this.faults.settled();
    const client = this.live();
    if (query.limit <= 0) return [];
    const k = this.keysOf(shard);
    const out: DlqEntry[] = [];
    let after = query.after;
    // Filters are applied here, so read in pages until the limit is met or the DLQ ends.
    const page = Math.max(query.limit, 100);
    for (;;) {
      const ids = await this.read(() => client.zrangebylex(k.dlqKeys, lexAfter(after), '+', 'LIMIT', 0, page));
      if (ids.length === 0) return out;
      const values = await this.read(() => client.hmgetBuffer(k.dlq, ...ids));
      for (const v of values) {
        if (v === null) continue;
        const entry = decodeRedisDlqEntry(v);
        if (query.topic !== undefined && entry.meta.topic !== query.topic) continue;
        if (query.reason !== undefined && entry.reason !== query.reason) continue;
        out.push(entry);
        if (out.length >= query.limit) return out;
      }
      if (ids.length < page) return out;
      after = ids[ids.length - 1] as MsgId;
    }
  }

  async getDlqPayload(shard: ShardIndex, msgId: MsgId): Promise<Uint8Array | undefined> {
    const client = this.live();
    const k = this.keysOf(shard);
    const [dead, payload] = await this.read(() => Promise.all([client.hexists(k.dlq, msgId), client.hgetBuffer(k.payloads, msgId)]));
    return dead === 1 && payload !== null ? payload : undefined;
  }

  private async metas(client: RedisClient, k: ShardKeys, ids: readonly MsgId[]): Promise<Array<MessageMeta | undefined>> {
    if (ids.length === 0) return [];
    const values = await this.read(() => client.hmgetBuffer(k.msgs, ...ids));
    return values.map((v) => (v === null ? undefined : decodeRedisMeta(v)));
  }

  /** The shard's owner token: taken now (`fresh`, or not yet owned) or the one taken before. */
  private ownership(shard: ShardIndex, fresh = false): Promise<string> {
    if (fresh) this.lost.delete(shard);
    else if (this.lost.has(shard)) {
      return Promise.reject(new MailboxError('E_UNAVAILABLE', `storage: ${this.where}: shard ${shard} lost its ownership under prefix ${this.options.prefix}; writes wait for it to reload`, { retryAfterMs: 1_000 }));
    }
    let owned = fresh ? undefined : this.owners.get(shard);
    if (owned === undefined) {
      owned = this.acquire(shard);
      this.owners.set(shard, owned);
      const mine = owned;
      mine.catch(() => {
        if (this.owners.get(shard) === mine) this.owners.delete(shard);
      });
    }
    return owned;
  }

  private loseShard(shard: ShardIndex): void {
    this.owners.delete(shard);
    this.tokens.delete(shard);
    this.lost.add(shard);
  }

  private async acquire(shard: ShardIndex): Promise<string> {
    const client = this.live();
    const k = this.keysOf(shard);
    try {
      const token = await client.mbxAcquire(k.owner, k.epoch, this.instance, this.ttl);
      this.tokens.set(shard, token);
      return token;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!message.startsWith('MBXOWNED')) throw this.unavailable(err, 'cannot take a shard on');
      const [, owner, pttl] = message.split(' ');
      throw new MailboxError(
        'E_UNAVAILABLE',
        `storage: ${this.where}: shard ${shard} under prefix ${this.options.prefix} is owned by instance ${owner?.split('/')[0]} for another ${pttl} ms unless it renews (another mailbox on the same redis.prefix?)`,
        { cause: err, retryAfterMs: Math.max(1_000, Number(pttl) || 0) },
      );
    }
  }

  private async renew(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    await Promise.all(
      [...this.tokens].map(async ([shard, token]) => {
        // Lost (expired and taken, or fenced by a newer load): the next commit is refused and the shard reloads.
        const ours = await client.mbxRenew(this.keysOf(shard).owner, token, this.ttl).catch(() => 1);
        if (ours === 0 && this.tokens.get(shard) === token) this.loseShard(shard);
      }),
    );
  }

  private keysOf(shard: ShardIndex): ShardKeys {
    let k = this.keys.get(shard);
    if (k === undefined) this.keys.set(shard, (k = shardKeys(this.options.prefix, shard)));
    return k;
  }

  private async read<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.unavailable(err, 'cannot read from');
    }
  }

  private live(): RedisClient & Scripted {
    if (this.state !== 'open' || this.client === undefined) {
      throw new MailboxError('E_UNAVAILABLE', `storage: redis store is ${this.state === 'new' ? 'not open yet' : 'closed'}`);
    }
    return this.client;
  }

  private unavailable(err: unknown, what: string): MailboxError {
    const reason = err instanceof Error ? err.message : String(err);
    return new MailboxError('E_UNAVAILABLE', `storage: ${what} ${this.where}: ${reason}`, { cause: err, retryAfterMs: 1_000 });
  }

  private async instanceFromFile(): Promise<string> {
    const file = this.options.instanceIdFile;
    if (file === undefined) return randomBytes(8).toString('hex');
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const id = randomBytes(8).toString('hex');
    try {
      await writeFile(file, `${id}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
      return id;
    } catch (err) {
      // Another start won the race: use its id.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
      throw err;
    }
  }
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
