/**
 * One shard's queues: per topic a FIFO of ready messages, plus delayed messages and open
 * leases ordered by deadline, the idempotency window and the DLQ moves. Pure: every step
 * takes `now` (ms, comparable with stored wall-clock times) and appends the store mutations
 * it implies to `out`; the shard actor commits them and answers only after that commit.
 *
 * Paging (a paged store, see `ShardLimits.paging`): RAM holds at most a window of each
 * topic's ready messages; the rest stay in the store ("spilled"), counted, and all sort
 * after the topic's `cursor`. The shard reads the next page when a consumer draws the
 * window down (`needsPage` / `beginRead` / `applyPage`), so RAM is bounded by configuration,
 * not by queue depth. Held messages (leased, bounded by the in-flight limit, and delayed)
 * stay in RAM.
 *
 * Per tenant the queue counts what it holds (`tenantHolds`: messages of every state, spilled
 * ones included, and open leases), for the policy's per-tenant bounds; `admitHeld` may refuse
 * a new message once dedup has passed it (a replay is never refused).
 */
import { MailboxError } from '../errors.ts';
import { retryDelay, type BackoffPolicy } from './backoff.ts';
import type { Rng } from './clock.ts';
import { DedupWindow, dedupKey } from './dedup-window.ts';
import { Fifo } from './fifo.ts';
import type { IdGenerator } from './ids.ts';
import { LeaseRings, NO_HANDLE } from './lease-rings.ts';
import { MinHeap } from './min-heap.ts';
import { topicKey } from './routing.ts';
import { selectExpiredMessages } from './retention.ts';
import type {
  AttemptOutcome, AttemptRecord, Attrs, DlqEntry, LeaseId, MessageMeta, MessageState, MsgId, SessionId, ShardIndex, StoreOp, TenantId, Topic,
} from './types.ts';

/**
 * Page reads fill windows freely while the shard holds fewer ready messages in RAM than this
 * many times its resident budget; past it, only empty windows get a page of SMALL_PAGE.
 */
const PAGING_CEILING = 4;
const SMALL_PAGE = 32;

/** Dead-lettered msgIds a shard remembers for refusing late ACKs. */
export const DEAD_MEMORY = 100_000;

export interface ShardLimits {
  maxAttempts: number;
  backoff: BackoffPolicy;
  maxVisibilityMs: number;
  /** Ready + delayed messages this shard holds at most. */
  capacity: number;
  dedupCapacity: number;
  replayWindowMs: number;
  /** Set for a paged store: RAM holds windows of ready messages and the newest idempotency keys. */
  paging?: PagingLimits;
}

export interface PagingLimits {
  /** Ready messages of one topic held in RAM at most; more stay in the store until paged in. */
  readyWindow: number;
  /** Ready messages a SEND may leave in RAM across the shard; past it new ones go to the store only. */
  residentBudget: number;
  /** Idempotency records kept in RAM; older ones are read from the store when a key may be there. */
  dedupResident: number;
}

/** One page read of a topic's ready messages left in the store. */
export interface PageRead {
  tenant: TenantId;
  topic: Topic;
  after?: MsgId;
  /** Only msgIds before this (a retention read: `idTimePrefix(cutoff)`). */
  before?: string;
  limit: number;
}

export interface EnqueueInput {
  tenant: TenantId;
  topic: Topic;
  idemKey: string;
  payload: Uint8Array;
  payloadHash: string;
  attrs?: Attrs;
  delayMs?: number;
}

export interface LeaseRequest {
  tenant: TenantId;
  topic: Topic;
  visibilityMs: number;
  maxMessages: number;
  maxBytes?: number;
  owner: SessionId;
}

/** What one tenant holds in one shard, over all its topics. */
export interface TenantHolds {
  /** Messages held: ready (spilled ones too), delayed and leased. */
  held: number;
  leased: number;
}

/** What happened to a message whose attempt ended without an ACK. */
export type Settlement = { kind: 'requeued'; meta: MessageMeta; outcome: AttemptOutcome } | { kind: 'dead'; entry: DlqEntry };

interface TopicQueue {
  key: string;
  tenant: TenantId;
  topic: Topic;
  /** Ready messages in RAM, in delivery order. */
  ready: Fifo<MsgId>;
  leased: number;
  delayed: number;
  /** Open leases per owner on this topic: what a push subscription has outstanding (made at the first lease). */
  byOwner: Map<SessionId, number> | undefined;
  /** Ready messages left in the store, not in RAM; every one sorts after `cursor`. */
  spilled: number;
  /** The newest msgId of this topic that came into RAM as ready; undefined: page from the start. */
  cursor: MsgId | undefined;
  /** A page or retention read of this topic is in flight. */
  reading: boolean;
  /** Messages spilled since the read in flight began (it may or may not see them). */
  spillsSinceRead: number;
  /**
   * Messages of this topic that left the queue (acknowledged, dead-lettered, purged) while a
   * read was in flight: the read may have seen their records before they were deleted, and
   * must not bring them back (each would come back as a message with no record, and take the
   * place of a spilled one in the count).
   */
  goneSinceRead: Set<MsgId> | undefined;
  /** The tenant's counts, and what of them this topic has added to them (see `countHolds`). */
  holds: TenantHolds;
  countedHeld: number;
  countedLeased: number;
}

function live(q: TopicQueue): number {
  return q.ready.length + q.spilled + q.leased + q.delayed;
}

function countOwner(q: TopicQueue, owner: SessionId, delta: number): void {
  const byOwner = (q.byOwner ??= new Map());
  const n = (byOwner.get(owner) ?? 0) + delta;
  if (n <= 0) byOwner.delete(owner);
  else byOwner.set(owner, n);
}

/**
 * The history of a message that has had no failed attempt: one frozen array shared by all of
 * them (most messages never get a second attempt), replaced, not pushed to, at the first.
 */
const NO_HISTORY = Object.freeze([]) as unknown as AttemptRecord[];

/**
 * A message as the queue holds it: the stored fields, plus its open lease's RAM state, which
 * is never stored (set at the first lease, so a message never leased does not carry them).
 */
interface LiveMeta extends MessageMeta {
  /** The shard's integer lease sequence of the open lease (fences the expiry rings); 0 when none. */
  leaseSeq: number;
  /** Where the open lease sits in the expiry rings (`LeaseRings.add`'s handle). */
  leaseSlot: number;
}

/**
 * Ops carry a copy: the queue keeps mutating its own meta after the op is issued. The copy
 * has exactly the stored fields, in the order a spread of a stored meta has them (optional
 * ones only when the meta has the key), and not the lease's RAM state. Written out: a rest
 * pattern that leaves keys out allocates a slow copy (+95 B per lease here).
 */
function copyMeta(meta: MessageMeta): MessageMeta {
  const copy: MessageMeta = {
    msgId: meta.msgId, tenant: meta.tenant, topic: meta.topic, idemKey: meta.idemKey, payloadHash: meta.payloadHash,
    size: meta.size, enqueuedAt: meta.enqueuedAt, attempt: meta.attempt, state: meta.state, dueAt: meta.dueAt,
    history: meta.history.length === 0 ? NO_HISTORY : meta.history.slice(),
  };
  if ('attrs' in meta) copy.attrs = meta.attrs;
  if ('leaseId' in meta) copy.leaseId = meta.leaseId;
  if ('owner' in meta) copy.owner = meta.owner;
  return copy;
}

/** A leaseId names its shard (`<shard>.<ulid>`), so ACK/NACK/EXTEND route without a topic. */
export function leaseIdFor(shard: ShardIndex, unique: string): LeaseId {
  return `${shard}.${unique}` as LeaseId;
}

/** The shard a leaseId belongs to, or undefined when it is not one of ours. */
export function shardOfLease(leaseId: string, shards: number): ShardIndex | undefined {
  const dot = leaseId.indexOf('.');
  if (dot < 1 || dot > 3) return undefined;
  const n = Number(leaseId.slice(0, dot));
  return Number.isInteger(n) && n >= 0 && n < shards ? (n as ShardIndex) : undefined;
}

export { topicKey };

/** The delete op of a stored message (a store needs its topic and state to find the record). */
function delMsg(shard: ShardIndex, meta: MessageMeta, state: MessageState = meta.state): StoreOp {
  return { op: 'delMsg', shard, msgId: meta.msgId, tenant: meta.tenant, topic: meta.topic, state };
}

export class ShardQueue {
  /** Every message in RAM: ready ones in a window, leased, delayed. */
  private readonly msgs = new Map<MsgId, MessageMeta>();
  private readonly topics = new Map<string, TopicQueue>();
  private readonly delayed = new MinHeap<MsgId>();
  /** Open leases by deadline, one ring per visibility: no object per lease, cleared at the ACK. */
  private readonly leases = new LeaseRings<MsgId>();
  /** The shard's lease sequence: each lease granted (or restored) takes the next one. */
  private leaseSeq = 0;
  private readonly byOwner = new Map<SessionId, Set<MsgId>>();
  readonly dedup: DedupWindow;
  /** Recently dead-lettered msgIds (bounded) with their tenant, so a late ACK of one is refused rather than reported done. */
  private readonly dead = new Map<MsgId, TenantId>();
  /** ACK / NACK / EXTEND items that named another tenant's message, since the last `takeForeignRefusals`. */
  private foreignRefusals = 0;
  /** `ready` counts spilled messages too; `resident` only the ready ones in RAM. */
  private counts = { ready: 0, delayed: 0, leased: 0, dlq: 0, resident: 0 };
  /** Topics whose live count changed since the last `flushCounters` (paged store only). */
  private readonly liveChanged = new Set<TopicQueue>();
  private infoChanged = false;
  private newestId: MsgId | undefined;
  private readonly window: number;
  private readonly budget: number;
  private lastTenant = '';
  private lastTopic = '';
  private lastKey = topicKey('' as TenantId, '' as Topic);
  private readonly holds = new Map<TenantId, TenantHolds>();
  /**
   * Asked after dedup and the shard bound, before a new message is taken: a refusal (the
   * tenant's `maxQueued`) is thrown as the item's answer. Unset: every tenant may hold more.
   */
  admitHeld: ((tenant: TenantId) => MailboxError | undefined) | undefined;

  constructor(
    readonly shard: ShardIndex,
    private readonly limits: ShardLimits,
    private readonly ids: IdGenerator,
    private readonly rng: Rng,
  ) {
    const paging = limits.paging;
    this.window = paging?.readyWindow ?? Number.POSITIVE_INFINITY;
    this.budget = paging?.residentBudget ?? Number.POSITIVE_INFINITY;
    this.dedup = paging
      ? new DedupWindow(paging.dedupResident, limits.replayWindowMs, 'cache', limits.dedupCapacity)
      : new DedupWindow(limits.dedupCapacity, limits.replayWindowMs);
  }

  depths(): { ready: number; leased: number; delayed: number; dlq: number } {
    const { ready, leased, delayed, dlq } = this.counts;
    return { ready, leased, delayed, dlq };
  }

  /** Ready messages held in RAM (the rest of `depths().ready` is in the store). */
  get residentReady(): number {
    return this.counts.resident;
  }

  /** Messages in RAM of any state. */
  get residentMessages(): number {
    return this.msgs.size;
  }

  /** Open leases, without copying `depths()` (read on every lease for the global bound). */
  get leasedCount(): number {
    return this.counts.leased;
  }

  /** What `tenant` holds in this shard (a live view: read it, do not keep it). */
  tenantHolds(tenant: TenantId): Readonly<TenantHolds> | undefined {
    return this.holds.get(tenant);
  }

  get(msgId: MsgId): MessageMeta | undefined {
    return this.msgs.get(msgId);
  }

  /**
   * Ready (ready + delayed) and leased counts per topic class, for the `queue_depth` gauge.
   * Walks every topic: meant for a metrics scrape, not the hot path.
   */
  depthsByClass(classOf: (topic: string) => string): Map<string, { ready: number; leased: number }> {
    const out = new Map<string, { ready: number; leased: number }>();
    for (const q of this.topics.values()) {
      const cls = classOf(q.topic);
      const d = out.get(cls) ?? { ready: 0, leased: 0 };
      d.ready += q.ready.length + q.spilled + q.delayed;
      d.leased += q.leased;
      out.set(cls, d);
    }
    return out;
  }

  /** Open leases that `owner` holds on one topic. */
  leasedBy(owner: SessionId, key: string): number {
    return this.topics.get(key)?.byOwner?.get(owner) ?? 0;
  }

  /** Ready messages in RAM for this topic (what a lease can take now). */
  hasReady(key: string): boolean {
    return (this.topics.get(key)?.ready.length ?? 0) > 0;
  }

  /** Ready messages of this topic wait in the store (a page read would find them). */
  hasSpilled(key: string): boolean {
    return (this.topics.get(key)?.spilled ?? 0) > 0;
  }

  /**
   * The topic's window is half drawn down and the store holds more: time to read a page. Past
   * the shard's paging ceiling (many consumed topics at once) only an empty window is refilled,
   * a small page at a time, so RAM stays bounded and every consumer still makes progress.
   */
  needsPage(key: string): boolean {
    const q = this.topics.get(key);
    if (q === undefined || q.spilled === 0 || q.reading || q.ready.length > this.window / 2) return false;
    return q.ready.length === 0 || this.belowPagingCeiling();
  }

  /**
   * Starts a page read: what to ask the store for. The caller issues it once every op before
   * it is durable, and hands the answer to `applyPage`. Undefined when no read is due.
   */
  beginRead(key: string, limit?: number): PageRead | undefined {
    const q = this.topics.get(key);
    if (q === undefined || q.reading || q.spilled === 0) return undefined;
    q.reading = true;
    q.spillsSinceRead = 0;
    q.goneSinceRead = undefined;
    const room = this.belowPagingCeiling() ? this.window - q.ready.length : Math.min(SMALL_PAGE, this.window);
    const read: PageRead = { tenant: q.tenant, topic: q.topic, limit: limit ?? Math.max(1, Math.min(q.spilled, room)) };
    if (q.cursor !== undefined) read.after = q.cursor;
    return read;
  }

  /**
   * A page read answered: its messages join the window in msgId order. A read that came back
   * short reached the end: only messages spilled since it began can still be in the store.
   */
  applyPage(key: string, read: PageRead, metas: readonly MessageMeta[]): void {
    const q = this.topics.get(key);
    if (q === undefined || !q.reading) return;
    const gone = this.endRead(q);
    for (const meta of metas) {
      if (q.cursor === undefined || meta.msgId > q.cursor) q.cursor = meta.msgId;
      // A requeued message is in RAM and in the store's ready range at once.
      if (this.msgs.has(meta.msgId) || meta.state !== 'ready' || gone?.has(meta.msgId)) continue;
      this.msgs.set(meta.msgId, meta);
      q.ready.push(meta.msgId);
      this.counts.resident++;
      // From the store into RAM: still ready (a count that drifted low is corrected upwards).
      if (q.spilled > 0) q.spilled--;
      else this.counts.ready++;
    }
    if (metas.length < read.limit) this.setSpilled(q, Math.min(q.spilled, q.spillsSinceRead));
    this.countHolds(q);
    this.dropTopicIfEmpty(q);
  }

  private belowPagingCeiling(): boolean {
    return this.counts.resident < this.budget * PAGING_CEILING;
  }

  /** A read failed: the topic may be read again. */
  abortRead(key: string): void {
    const q = this.topics.get(key);
    if (q !== undefined) this.endRead(q);
  }

  /** The read in flight ended: what left the queue meanwhile (see `goneSinceRead`). */
  private endRead(q: TopicQueue): Set<MsgId> | undefined {
    const gone = q.goneSinceRead;
    q.reading = false;
    q.goneSinceRead = undefined;
    return gone;
  }

  /** `msgId` leaves the queue: a read in flight of its topic must not bring it back. */
  private departed(q: TopicQueue, msgId: MsgId): void {
    if (q.reading) (q.goneSinceRead ??= new Set()).add(msgId);
  }

  /**
   * Retention of messages left in the store: `metas` were read (with `beginRead`, bounded
   * `before` the cutoff) and are dropped unless they came into RAM meanwhile.
   */
  purgeSpilled(key: string, metas: readonly MessageMeta[], out: StoreOp[]): MessageMeta[] {
    const q = this.topics.get(key);
    if (q === undefined || !q.reading) return [];
    const gone = this.endRead(q);
    const purged: MessageMeta[] = [];
    for (const meta of metas) {
      if (this.msgs.has(meta.msgId) || meta.state !== 'ready' || gone?.has(meta.msgId) || (q.cursor !== undefined && meta.msgId <= q.cursor) || q.spilled === 0) continue;
      this.setSpilled(q, q.spilled - 1);
      out.push(delMsg(this.shard, meta, 'ready'));
      purged.push(meta);
    }
    if (purged.length > 0) this.markLive(q);
    this.countHolds(q);
    this.dropTopicIfEmpty(q);
    return purged;
  }

  /** Topic keys whose ready messages partly wait in the store (for a retention pass). */
  /** Topics of `tenant` with ready messages in the store, not in RAM (where an unknown msgId of it may wait). */
  spilledTopicsOf(tenant: TenantId): Topic[] {
    const topics: Topic[] = [];
    for (const q of this.topics.values()) if (q.spilled > 0 && q.tenant === tenant) topics.push(q.topic);
    return topics;
  }

  spilledTopics(): string[] {
    const keys: string[] = [];
    for (const q of this.topics.values()) if (q.spilled > 0 && !q.reading) keys.push(q.key);
    return keys;
  }

  /**
   * Appends the counters a paged store loads instead of every record: live messages per
   * changed topic, and the shard's DLQ depth and newest msgId. Once per commit.
   */
  flushCounters(out: StoreOp[]): void {
    if (this.limits.paging === undefined) return;
    for (const q of this.liveChanged) out.push({ op: 'putTopic', shard: this.shard, tenant: q.tenant, topic: q.topic, live: live(q) });
    this.liveChanged.clear();
    if (this.infoChanged) {
      const info: { dlqDepth: number; newestId?: MsgId } = { dlqDepth: this.counts.dlq };
      if (this.newestId !== undefined) info.newestId = this.newestId;
      out.push({ op: 'putShardInfo', shard: this.shard, info });
      this.infoChanged = false;
    }
  }

  /**
   * SEND: dedup, capacity, then enqueue. Returns the msgId and whether it was a replay. `key`
   * and `topic`: the item's dedupKey and topicKey, when the caller has them already.
   */
  enqueue(
    input: EnqueueInput, now: number, out: StoreOp[],
    key = dedupKey(input.tenant, input.topic, input.idemKey), topic = this.keyOf(input.tenant, input.topic),
  ): { msgId: MsgId; duplicate: boolean } {
    const seen = this.dedup.lookup(key, now);
    if (seen) {
      if (seen.payloadHash !== input.payloadHash) {
        throw new MailboxError('E_IDEM_CONFLICT', `idemKey ${JSON.stringify(input.idemKey)} was used with a different payload on topic ${input.topic}`);
      }
      return { msgId: seen.msgId, duplicate: true };
    }
    if (this.counts.ready + this.counts.delayed >= this.limits.capacity) {
      throw new MailboxError('E_SATURATED', `shard ${this.shard} holds ${this.limits.capacity} messages`, { retryAfterMs: 1000 });
    }
    const refusal = this.admitHeld?.(input.tenant);
    if (refusal !== undefined) throw refusal;
    const msgId = this.ids.next(now) as MsgId;
    const entry = this.dedup.add(key, msgId, input.payloadHash, now);
    const delay = input.delayMs ?? 0;
    const meta: MessageMeta = {
      msgId, tenant: input.tenant, topic: input.topic, idemKey: input.idemKey, payloadHash: input.payloadHash,
      size: input.payload.byteLength, enqueuedAt: now, attempt: 0,
      state: delay > 0 ? 'delayed' : 'ready', dueAt: delay > 0 ? now + delay : 0, history: NO_HISTORY,
    };
    if (input.attrs) meta.attrs = input.attrs;
    this.newestId = msgId;
    this.infoChanged = this.limits.paging !== undefined;
    const q = this.topicFor(meta.tenant, meta.topic, topic);
    if (meta.state === 'ready' && (q.spilled > 0 || q.ready.length >= this.window || this.counts.resident >= this.budget)) {
      // Spilled: the store keeps it and RAM only counts it, so it is never copied or mutated here.
      this.setSpilled(q, q.spilled + 1);
      q.spillsSinceRead++;
      out.push({ op: 'putMsg', shard: this.shard, meta, payload: input.payload });
    } else {
      this.insert(meta, q);
      if (meta.state === 'ready') q.cursor = msgId;
      out.push({ op: 'putMsg', shard: this.shard, meta: copyMeta(meta), payload: input.payload });
    }
    this.markLive(q);
    this.countHolds(q);
    out.push({ op: 'putDedup', shard: this.shard, key, entry });
    return { msgId, duplicate: false };
  }

  /** RECV / push delivery: leases up to maxMessages ready messages of one topic, FIFO. */
  lease(req: LeaseRequest, now: number, out: StoreOp[]): MessageMeta[] {
    const q = this.topics.get(this.keyOf(req.tenant, req.topic));
    if (!q || q.ready.length === 0) return [];
    const visibility = Math.min(req.visibilityMs, this.limits.maxVisibilityMs);
    const leased: MessageMeta[] = [];
    let bytes = 0;
    while (leased.length < req.maxMessages) {
      const id = q.ready.peek();
      if (id === undefined) break;
      const meta = this.msgs.get(id)!;
      if (req.maxBytes !== undefined && leased.length > 0 && bytes + meta.size > req.maxBytes) break;
      q.ready.shift();
      bytes += meta.size;
      this.counts.ready--;
      this.counts.resident--;
      q.leased++;
      this.counts.leased++;
      meta.attempt++;
      meta.state = 'leased';
      meta.leaseId = leaseIdFor(this.shard, this.ids.next(now));
      meta.owner = req.owner;
      meta.dueAt = now + visibility;
      this.openLease(meta, visibility);
      this.ownerSet(req.owner).add(id);
      countOwner(q, req.owner, 1);
      out.push({ op: 'putMsg', shard: this.shard, meta: copyMeta(meta), was: 'ready' });
      leased.push(meta);
    }
    this.countHolds(q);
    return leased;
  }

  /**
   * ACK: removes the leased message and returns it; undefined when it is not in RAM (never
   * existed, already acknowledged, or paged out: the shard answers E_NOT_FOUND or looks on disk).
   * A recently dead-lettered one is refused: an ACK would tell the consumer its work counted
   * while the message waits for reprocessing.
   * ACK, NACK and EXTEND take the asking `tenant`: another tenant's message is absent to it (`visible`).
   */
  ack(msgId: MsgId, leaseId: LeaseId, out: StoreOp[], tenant?: TenantId): MessageMeta | undefined {
    const meta = this.visible(msgId, tenant);
    if (!meta) {
      if (this.isDead(msgId, tenant)) throw new MailboxError('E_STALE_LEASE', `lease ${leaseId} ended: message ${msgId} was dead-lettered`);
      return undefined;
    }
    this.checkLease(meta, leaseId);
    this.remove(meta);
    out.push(delMsg(this.shard, meta, 'leased'));
    return meta;
  }

  /** NACK: requeue after `delayMs` or the backoff, or dead-letter past maxAttempts. */
  nack(msgId: MsgId, leaseId: LeaseId, options: { delayMs?: number; reason?: string }, now: number, out: StoreOp[], tenant?: TenantId): Settlement {
    const meta = this.visible(msgId, tenant);
    if (!meta) throw new MailboxError('E_NOT_FOUND', `message ${msgId} is not leased (already acknowledged or unknown)`);
    this.checkLease(meta, leaseId);
    return this.settle(meta, 'nacked', now, out, options.delayMs, options.reason);
  }

  /** EXTEND: moves a live lease's deadline to now + ms (capped); returns the new deadline. */
  extend(msgId: MsgId, leaseId: LeaseId, ms: number, now: number, out: StoreOp[], tenant?: TenantId): number {
    const meta = this.visible(msgId, tenant);
    if (!meta) throw new MailboxError('E_NOT_FOUND', `message ${msgId} is not leased (already acknowledged or unknown)`);
    this.checkLease(meta, leaseId);
    if (meta.dueAt <= now) throw new MailboxError('E_STALE_LEASE', `lease ${leaseId} has expired`);
    const granted = Math.min(ms, this.limits.maxVisibilityMs);
    meta.dueAt = now + granted;
    // The same lease (same leaseId and sequence) at its new deadline, in the ring of `granted`.
    const live = meta as LiveMeta;
    this.leases.remove(live.leaseSlot, live.leaseSeq);
    live.leaseSlot = this.leases.add(msgId, meta.dueAt, live.leaseSeq, granted);
    out.push({ op: 'putMsg', shard: this.shard, meta: copyMeta(meta), was: 'leased' });
    return meta.dueAt;
  }

  /** A consumer session ended: its open leases return at once, counted as session_lost. */
  releaseOwner(owner: SessionId, now: number, out: StoreOp[]): Settlement[] {
    const ids = this.byOwner.get(owner);
    if (!ids) return [];
    const settled: Settlement[] = [];
    for (const id of [...ids]) {
      const meta = this.msgs.get(id);
      if (meta?.state === 'leased' && meta.owner === owner) settled.push(this.settle(meta, 'session_lost', now, out, 0));
    }
    this.byOwner.delete(owner);
    return settled;
  }

  /** Time passes: expire leases, promote delayed messages, forget old idempotency keys. */
  tick(now: number, out: StoreOp[]): { settled: Settlement[]; promoted: Set<string> } {
    const settled: Settlement[] = [];
    const promoted = new Set<string>();
    for (let id = this.leases.takeDue(now); id !== undefined; id = this.leases.takeDue(now)) {
      const meta = this.msgs.get(id) as LiveMeta | undefined;
      // Every lease that ends leaves the rings at once; the sequence check is the fence regardless.
      if (!meta || meta.state !== 'leased' || meta.leaseSeq !== this.leases.takenSeq) continue;
      meta.leaseSlot = NO_HANDLE; // taken out of the rings already
      const s = this.settle(meta, 'expired', now, out);
      settled.push(s);
      if (s.kind === 'requeued' && s.meta.state === 'ready') promoted.add(this.keyOf(meta.tenant, meta.topic));
    }
    for (let top = this.delayed.peek(); top && top.due <= now; top = this.delayed.peek()) {
      this.delayed.pop();
      const meta = this.msgs.get(top.value);
      if (!meta || meta.state !== 'delayed' || meta.dueAt !== top.due) continue;
      const q = this.topics.get(this.keyOf(meta.tenant, meta.topic))!;
      q.delayed--;
      this.counts.delayed--;
      this.makeReady(meta, q);
      out.push({ op: 'putMsg', shard: this.shard, meta: copyMeta(meta), was: 'delayed' });
      promoted.add(this.keyOf(meta.tenant, meta.topic));
    }
    // A paged store's records are swept from the store itself (the RAM window is only a cache).
    const expired = this.dedup.expire(now, 10_000);
    if (this.dedup.mode === 'resident') for (const key of expired) out.push({ op: 'delDedup', shard: this.shard, key });
    return { settled, promoted };
  }

  /** The earliest deadline of any kind, for the shard's single timer. */
  nextDeadline(): number | undefined {
    const candidates = [this.leases.peekDue(), this.delayed.peek()?.due, this.dedup.nextExpiry()];
    let min: number | undefined;
    for (const c of candidates) if (c !== undefined && (min === undefined || c < min)) min = c;
    return min;
  }

  /** DLQ reprocess: entries come back as new ready messages with their attempts reset. */
  revive(entry: DlqEntry, payload: Uint8Array, out: StoreOp[]): MessageMeta {
    const meta: MessageMeta = { ...entry.meta, attempt: 0, state: 'ready', dueAt: 0, history: NO_HISTORY };
    delete meta.leaseId;
    delete meta.owner;
    this.dead.delete(meta.msgId);
    const q = this.topicFor(meta.tenant, meta.topic);
    this.insert(meta, q);
    this.countHolds(q);
    // The cursor stays: older messages may still wait in the store, and a page read skips this one (in RAM).
    this.markLive(q);
    this.setDlqDepth(this.counts.dlq - 1);
    out.push({ op: 'delDlq', shard: this.shard, msgId: meta.msgId });
    out.push({ op: 'putMsg', shard: this.shard, meta: copyMeta(meta), payload });
    return meta;
  }

  /** DLQ purge of one entry. */
  forgetDead(msgId: MsgId, out: StoreOp[]): void {
    this.dead.delete(msgId);
    this.setDlqDepth(this.counts.dlq - 1);
    out.push({ op: 'delDlq', shard: this.shard, msgId });
  }

  /**
   * Retention: drops ready and delayed messages enqueued before `before` (wall-clock ms),
   * at most `limit` of them; leased ones stay until their lease ends. Returns what it dropped.
   */
  purgeOlderThan(before: number, out: StoreOp[], limit = Number.POSITIVE_INFINITY): MessageMeta[] {
    const victims = selectExpiredMessages(this.msgs.values(), before, limit);
    const touched = new Set<string>();
    for (const meta of victims) {
      const key = topicKey(meta.tenant, meta.topic);
      if (meta.state === 'ready') {
        this.counts.ready--;
        this.counts.resident--;
        touched.add(key);
      } else {
        // Its delayed-heap entry is skipped by tick() once the message is gone.
        this.topics.get(key)!.delayed--;
        this.counts.delayed--;
      }
      const q = this.topics.get(key)!;
      this.markLive(q);
      this.departed(q, meta.msgId);
      this.msgs.delete(meta.msgId);
      out.push(delMsg(this.shard, meta));
    }
    for (const key of touched) {
      const q = this.topics.get(key)!;
      const keep = new Fifo<MsgId>();
      for (const id of q.ready) if (this.msgs.has(id)) keep.push(id);
      q.ready = keep;
    }
    for (const meta of victims) {
      const q = this.topics.get(topicKey(meta.tenant, meta.topic));
      if (q) {
        this.countHolds(q);
        this.dropTopicIfEmpty(q);
      }
    }
    return victims;
  }

  /** New ids (messages and leases) will sort after `msgId`, the newest the store knows. */
  advanceIdsPast(msgId: MsgId): void {
    this.ids.advancePast(msgId);
    if (this.newestId === undefined || msgId > this.newestId) this.newestId = msgId;
  }

  /** Rebuilds from store records. Each message is inserted as stored (see recovery.ts). */
  restoreMessage(meta: MessageMeta): void {
    const q = this.topicFor(meta.tenant, meta.topic);
    this.insert(meta, q);
    this.countHolds(q);
    if (meta.state === 'ready' && (q.cursor === undefined || meta.msgId > q.cursor)) q.cursor = meta.msgId;
  }

  /**
   * A paged store's per-topic live counts: whatever of them is not in RAM is ready and waits in
   * the store (after every msgId in RAM, since nothing of the topic has been paged yet).
   */
  restoreTopic(tenant: TenantId, topic: Topic, liveCount: number): void {
    const q = this.topicFor(tenant, topic);
    this.setSpilled(q, Math.max(0, liveCount - (q.ready.length + q.leased + q.delayed)));
    this.countHolds(q);
    // Paging starts from the beginning of the topic's range; RAM copies are skipped by applyPage.
    q.cursor = undefined;
    this.dropTopicIfEmpty(q);
  }

  restoreDlqDepth(depth: number): void {
    this.counts.dlq = depth;
  }

  /** DLQ msgIds (with their tenant) read back from the store at rebuild (see `ack`). */
  restoreDead(dead: Iterable<{ readonly msgId: MsgId; readonly tenant: TenantId }>): void {
    for (const { msgId, tenant } of dead) this.rememberDead(msgId, tenant);
  }

  /**
   * Whether the queue holds `msgId` in RAM, live or recently dead-lettered, for any tenant.
   * A message ACK / NACK / EXTEND did not find although the queue knows it is another tenant's.
   */
  knows(msgId: MsgId): boolean {
    return this.msgs.has(msgId) || this.dead.has(msgId);
  }

  /** Whether RAM holds `msgId` (live or recently dead-lettered) as `tenant`'s, without counting a refusal. */
  holdsFor(msgId: MsgId, tenant: TenantId): boolean {
    return (this.msgs.get(msgId)?.tenant ?? this.dead.get(msgId)) === tenant;
  }

  /** How many items named another tenant's message since the last call (the shard counts them as auth refusals). */
  takeForeignRefusals(): number {
    const n = this.foreignRefusals;
    this.foreignRefusals = 0;
    return n;
  }

  /** Every leased message (recovery decides what to do with leases found in the store). */
  leasedMessages(): MessageMeta[] {
    return [...this.msgs.values()].filter((m) => m.state === 'leased');
  }

  /** Ends an attempt: history, then requeue (immediately or after a delay) or DLQ. */
  settle(meta: MessageMeta, outcome: AttemptOutcome, now: number, out: StoreOp[], delayMs?: number, reason?: string): Settlement {
    const q = this.topics.get(this.keyOf(meta.tenant, meta.topic))!;
    const session = meta.owner;
    this.unlease(meta, q);
    const record: AttemptRecord = reason === undefined ? { attempt: meta.attempt, outcome, at: now } : { attempt: meta.attempt, outcome, at: now, reason };
    if (session !== undefined) record.session = session;
    // A new array for the first record: an empty history may be NO_HISTORY, shared and frozen.
    if (meta.history.length === 0) meta.history = [record];
    else meta.history.push(record);
    if (meta.attempt >= this.limits.maxAttempts) {
      this.departed(q, meta.msgId);
      this.msgs.delete(meta.msgId);
      this.markLive(q);
      this.countHolds(q);
      this.dropTopicIfEmpty(q);
      this.setDlqDepth(this.counts.dlq + 1);
      this.rememberDead(meta.msgId, meta.tenant);
      const entry: DlqEntry = { meta: copyMeta(meta), reason: outcome, deadAt: now };
      out.push(delMsg(this.shard, meta, 'leased'));
      out.push({ op: 'putDlq', shard: this.shard, entry });
      return { kind: 'dead', entry };
    }
    const delay = delayMs ?? retryDelay(this.limits.backoff, meta.attempt, this.rng);
    if (delay > 0) {
      meta.state = 'delayed';
      meta.dueAt = now + delay;
      q.delayed++;
      this.counts.delayed++;
      this.delayed.push(meta.dueAt, meta.msgId);
    } else {
      this.makeReady(meta, q);
    }
    this.countHolds(q);
    out.push({ op: 'putMsg', shard: this.shard, meta: copyMeta(meta), was: 'leased' });
    return { kind: 'requeued', meta, outcome };
  }

  /**
   * The live message `msgId` as `tenant` may see it. Another tenant's message is absent, so
   * every step answers exactly as for an id that never existed (ids cannot be probed across
   * tenants); it is counted for `takeForeignRefusals`. No tenant: the system itself asks.
   */
  private visible(msgId: MsgId, tenant: TenantId | undefined): MessageMeta | undefined {
    const meta = this.msgs.get(msgId);
    if (meta === undefined || tenant === undefined || meta.tenant === tenant) return meta;
    this.foreignRefusals++;
    return undefined;
  }

  /** Whether `msgId` was dead-lettered recently, as `tenant` may see it (see `visible`). */
  private isDead(msgId: MsgId, tenant: TenantId | undefined): boolean {
    const owner = this.dead.get(msgId);
    if (owner === undefined || tenant === undefined || owner === tenant) return owner !== undefined;
    this.foreignRefusals++;
    return false;
  }

  private rememberDead(msgId: MsgId, tenant: TenantId): void {
    this.dead.set(msgId, tenant);
    if (this.dead.size > DEAD_MEMORY) this.dead.delete(this.dead.keys().next().value!);
  }

  private checkLease(meta: MessageMeta, leaseId: LeaseId): void {
    if (meta.state !== 'leased' || meta.leaseId !== leaseId) {
      throw new MailboxError('E_STALE_LEASE', `lease ${leaseId} is not the live lease of message ${meta.msgId}`);
    }
  }

  /**
   * `topicKey`, remembering the last one: consecutive steps (an ACK batch, a lease, a tick)
   * mostly touch one topic, whose names are then compared rather than concatenated and hashed.
   */
  keyOf(tenant: TenantId, topic: Topic): string {
    if (topic !== this.lastTopic || tenant !== this.lastTenant) {
      this.lastKey = topicKey(tenant, topic);
      this.lastTopic = topic;
      this.lastTenant = tenant;
    }
    return this.lastKey;
  }

  private topicFor(tenant: TenantId, topic: Topic, key = this.keyOf(tenant, topic)): TopicQueue {
    let q = this.topics.get(key);
    if (!q) {
      // Small and lazy: a fan-out makes thousands of topics that each see one message.
      let holds = this.holds.get(tenant);
      if (holds === undefined) this.holds.set(tenant, (holds = { held: 0, leased: 0 }));
      q = {
        key, tenant, topic, ready: new Fifo<MsgId>(4), leased: 0, delayed: 0, byOwner: undefined, spilled: 0, cursor: undefined, reading: false,
        spillsSinceRead: 0, goneSinceRead: undefined, holds, countedHeld: 0, countedLeased: 0,
      };
      this.topics.set(key, q);
    }
    return q;
  }

  private setSpilled(q: TopicQueue, n: number): void {
    const next = Math.max(0, n);
    this.counts.ready += next - q.spilled;
    q.spilled = next;
  }

  private setDlqDepth(n: number): void {
    this.counts.dlq = Math.max(0, n);
    this.infoChanged = this.limits.paging !== undefined;
  }

  private markLive(q: TopicQueue): void {
    if (this.limits.paging !== undefined) this.liveChanged.add(q);
  }

  private insert(meta: MessageMeta, q = this.topicFor(meta.tenant, meta.topic)): void {
    this.msgs.set(meta.msgId, meta);
    if (meta.state === 'ready') {
      q.ready.push(meta.msgId);
      this.counts.ready++;
      this.counts.resident++;
    } else if (meta.state === 'delayed') {
      q.delayed++;
      this.counts.delayed++;
      this.delayed.push(meta.dueAt, meta.msgId);
    } else {
      q.leased++;
      this.counts.leased++;
      this.openLease(meta); // restored: its visibility is not stored, so it takes the rings' overflow
      if (meta.owner) {
        this.ownerSet(meta.owner).add(meta.msgId);
        countOwner(q, meta.owner, 1);
      }
    }
  }

  private makeReady(meta: MessageMeta, q: TopicQueue): void {
    meta.state = 'ready';
    meta.dueAt = 0;
    q.ready.push(meta.msgId);
    this.counts.ready++;
    this.counts.resident++;
  }

  /** Gives a leased meta the shard's next lease sequence and its place in the expiry rings. */
  private openLease(meta: MessageMeta, visibility?: number): void {
    const live = meta as LiveMeta;
    live.leaseSeq = ++this.leaseSeq;
    live.leaseSlot = this.leases.add(meta.msgId, meta.dueAt, live.leaseSeq, visibility);
  }

  private unlease(meta: MessageMeta, q: TopicQueue): void {
    const live = meta as LiveMeta;
    if (live.leaseSeq > 0) this.leases.remove(live.leaseSlot, live.leaseSeq);
    live.leaseSeq = 0;
    live.leaseSlot = NO_HANDLE;
    q.leased--;
    this.counts.leased--;
    if (meta.owner) {
      this.byOwner.get(meta.owner)?.delete(meta.msgId);
      countOwner(q, meta.owner, -1);
    }
    // Assigned, not deleted: `delete` would turn every meta into a slow dictionary-mode object.
    meta.leaseId = undefined;
    meta.owner = undefined;
  }

  private remove(meta: MessageMeta): void {
    const q = this.topics.get(this.keyOf(meta.tenant, meta.topic))!;
    this.unlease(meta, q);
    this.departed(q, meta.msgId);
    this.msgs.delete(meta.msgId);
    this.markLive(q);
    this.countHolds(q);
    this.dropTopicIfEmpty(q);
  }

  private dropTopicIfEmpty(q: TopicQueue): void {
    if (q.ready.length === 0 && q.leased === 0 && q.delayed === 0 && q.spilled === 0 && !q.reading) {
      this.countHolds(q); // to zero: a topic made again for this key starts from nothing
      this.topics.delete(q.key);
    }
  }

  /**
   * Brings the tenant's counts up to date with this topic's. Called at the end of every step
   * that changes how many messages a topic holds or has leased: one place does the arithmetic,
   * however the step moved its messages between ready, spilled, delayed and leased.
   */
  private countHolds(q: TopicQueue): void {
    const held = live(q);
    if (held === q.countedHeld && q.leased === q.countedLeased) return;
    q.holds.held += held - q.countedHeld;
    q.holds.leased += q.leased - q.countedLeased;
    q.countedHeld = held;
    q.countedLeased = q.leased;
  }

  private ownerSet(owner: SessionId): Set<MsgId> {
    let set = this.byOwner.get(owner);
    if (!set) this.byOwner.set(owner, (set = new Set()));
    return set;
  }
}
