/**
 * The imperative half of a shard actor: it feeds events to the pure ShardQueue, gathers the
 * store ops of each turn into one group-committed batch (one batch in flight, the next one
 * filling meanwhile), and answers callers only after the batch holding their step is durable.
 * It also serves long-poll waiters and push subscriptions with credit.
 *
 * With a paged store it also makes the reads paging needs (see shard-queue.ts), each issued
 * once every op before it is durable so it sees them: the next page of a topic a consumer
 * draws down, idempotency keys that may be stored but are not in RAM (SENDs wait for them, in
 * order), and the background sweep of stored idempotency records.
 */
import { MailboxError, toMailboxError } from '../src/errors.ts';
import type { Clock } from '../src/domain/clock.ts';
import { sha256Hex } from '../src/domain/payload-hash.ts';
import { rebuildShard, type LeaseRecovery } from '../src/domain/recovery.ts';
import { retentionCutoff, retentionIntervalMs } from '../src/domain/retention.ts';
import { idTimePrefix } from '../src/domain/ids.ts';
import { ShardQueue, topicKey, type LeaseRequest, type PageRead, type Settlement } from '../src/domain/shard-queue.ts';
import type { Delivery, MessageMeta, MsgId, SessionId, TenantId } from '../src/domain/types.ts';
import type { Store } from '../src/store/store.ts';
import { CommitPipeline } from './commit-pipeline.ts';
import { DedupSweep } from './dedup-sweep.ts';
import { DeficitRoundRobin, type ServeResult } from '../src/domain/deficit-round-robin.ts';
import { SendGate, type SendRequest } from './send-gate.ts';
import type { AckOutcome, Reply, SendOutcome, ShardEvent, ShardRequest, ShardSubscription } from './shard-events.ts';

export interface ShardHooks {
  /** The shard rebuilt itself from the store and serves. */
  up(): void;
  settled(settlement: Settlement): void;
  /** The store refused a batch; `refused` callers got E_UNAVAILABLE. */
  storageFailed(error: MailboxError, refused: number): void;
  storageRecovered(): void;
  /** A payload read back from the store no longer matches its hash. */
  integrityFailed(msgId: MsgId): void;
  /** `count` ACK / NACK / EXTEND items named another tenant's message and were answered as not found. */
  foreignRefused(count: number): void;
}

export interface TenantLeaseBound {
  /** Leases `tenant` may still open (Infinity: no bound). */
  leaseRoom(tenant: TenantId): number;
  /** The answer to a RECV of a tenant at its bound. */
  leaseRefusal(tenant: TenantId): MailboxError;
}

export interface ShardCoreDeps {
  /** A fresh, empty queue (at start, and to rebuild after the store refused a batch). */
  newQueue(): ShardQueue;
  store: Store;
  clock: Clock;
  leaseRecovery: LeaseRecovery;
  /** The runtime has started (every shard loaded once): a load that fails for storage is retried, not a crash. */
  serving?: () => boolean;
  isOwnerAlive(owner: SessionId): boolean;
  /** Leases the whole mailbox may still open (the global in-flight bound). */
  inflightAvailable(): number;
  /** The policy's per-tenant bound on open leases (src/runtime/tenant-holds.ts); none: unbounded. */
  leaseBound?: TenantLeaseBound;
  hooks: ShardHooks;
  send(event: ShardEvent): void;
  /** Payloads kept in RAM between SEND and delivery, so a fresh message is not read back from disk. */
  hotPayloadBytes: number;
  /** Ready and delayed messages older than `readyMs` are purged; `purged` hears of each pass once it is durable. */
  retention?: { readyMs: number; purged(messages: MessageMeta[]): void };
}

interface Waiter {
  req: LeaseRequest;
  reply: Reply<Delivery[]>;
  deadline: number;
  /** When it was parked, and who hears how long it waited (the wait is not request latency). */
  parkedAt: number;
  waited: ((ms: number) => void) | undefined;
}

const MAX_BACKLOG = 100_000;
/** DLQ msgIds read at load so late ACKs of them are refused after a restart too (the oldest ones, past this many). */
const DEAD_SEED = 10_000;
/** Deliveries one subscription is handed per lease step (both shard cores). */
export const PUSH_CHUNK = 256;
/**
 * While storage is broken SEND is refused at the gate, so nothing may write for a long time;
 * the shard tries a no-op write this often to learn that storage is back.
 */
const PROBE_EVERY_MS = 250;
/** Deleting this dedup key is the probe: a real write of nothing (no dedup key starts with \u0001). */
const PROBE_KEY = '\u0001storage-probe';
/** Messages one retention pass drops at most (one batch); a full pass schedules the next one soon. */
const RETENTION_BATCH = 20_000;
const RETENTION_AGAIN_MS = 100;
/** Topics whose stored backlog one retention pass reads at most, and messages per topic read. */
const RETENTION_TOPICS = 64;
const RETENTION_READ = 1_000;
/** A page read that failed is tried again after this long. */
const PAGE_RETRY_MS = 500;
/** A consumer held back by a lease bound (global or its tenant's) is served again this soon: leases freed in other shards do not wake this one. */
const LEASE_RETRY_MS = 100;
/**
 * Delivery is scheduled by deficit round robin, across tenants and then across one tenant's
 * topics, in bytes (payload + MESSAGE_COST). A turn delivers at most TURN_BUDGET; what is left
 * goes on in the next turn, after the events queued meanwhile (other tenants' SENDs and ACKs).
 */
const QUANTUM = 64 * 1024;
const TURN_BUDGET = 2 * 1024 * 1024;
/** What a message costs the scheduler besides its payload (frame fields, lease): small ones are not free. */
const MESSAGE_COST = 64;
/** A RECV that finds its topic's window empty but messages in the store waits this much longer for the page. */
const PAGE_WAIT_MS = 2_000;


export class ShardCore {
  status: 'loading' | 'running' | 'dead' = 'loading';
  private backlog: ShardEvent[] = [];
  private readonly commits: CommitPipeline;
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly subs = new Map<string, ShardSubscription[]>();
  private readonly dirty = new Set<string>();
  /** Delivery scheduling: tenants take turns, then each tenant's topics (see QUANTUM). */
  private readonly tenantTurns = new DeficitRoundRobin<TenantId>(QUANTUM);
  private readonly topicTurns = new Map<TenantId, DeficitRoundRobin<string>>();
  /** A 'pump' event is queued (the budget ran out last turn). */
  private pumpQueued = false;
  private readonly hot = new Map<MsgId, Uint8Array>();
  private hotBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  private storageBroken = false;
  /** Set while a failed load waits to be tried again. */
  private reloadTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private leaseRecovery: LeaseRecovery;
  /** Names the current queue; answers to reads made for an earlier one are dropped. */
  private epoch = 0;
  private readonly gate: SendGate;
  private readonly sweep: DedupSweep;
  /** Topics to serve again at the next wake: a page read failed, or a lease bound held a consumer back. */
  private readonly keysToRetry = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;
  /** Where the next retention pass resumes in the list of topics with a stored backlog. */
  private retentionOffset = 0;
  private readonly anchorWall: number;
  private readonly anchorMono: number;
  private readonly startedAt: number;
  private q: ShardQueue;

  constructor(private readonly deps: ShardCoreDeps) {
    this.q = deps.newQueue();
    this.leaseRecovery = deps.leaseRecovery;
    this.commits = new CommitPipeline(
      (ops) => deps.store.commit(ops),
      (batch, error) => deps.send(error === undefined ? { type: 'committed', batch } : { type: 'commitFailed', batch, error }),
    );
    this.gate = new SendGate({
      dedup: () => this.q.dedup,
      read: (keys) => {
        const epoch = this.epoch;
        this.whenDurable(() => {
          this.deps.store.getDedup(this.q.shard, keys).then(
            (entries) => this.deps.send({ type: 'dedupChecked', epoch, keys, entries }),
            (error: unknown) => this.deps.send({ type: 'dedupChecked', epoch, keys, error }),
          );
        });
      },
      enqueue: (event, keys, now) => this.enqueueSend(event, keys, now),
    });
    this.sweep = new DedupSweep({
      dedup: () => this.q.dedup,
      scan: (after, limit) => {
        const epoch = this.epoch;
        this.deps.store.scanDedup(this.q.shard, after === undefined ? { limit } : { after, limit }).then(
          (entries) => this.deps.send({ type: 'dedupScanned', epoch, entries }),
          (error: unknown) => this.deps.send({ type: 'dedupScanned', epoch, error }),
        );
      },
      drop: (key) => this.commits.ops.push({ op: 'delDedup', shard: this.q.shard, key }),
      due: () => this.deps.send({ type: 'sweep' }),
    });
    this.anchorWall = deps.clock.wall();
    this.anchorMono = deps.clock.now();
    this.startedAt = deps.clock.now();
  }

  /** Wall-clock ms that never jumps: comparable with stored times, immune to clock steps. */
  now(): number {
    // Whole ms: stored and wire timestamps are integers.
    return Math.floor(this.anchorWall + (this.deps.clock.now() - this.anchorMono));
  }

  get queue(): ShardQueue {
    return this.q;
  }

  /** Nothing waits for the store: no batch in flight and none filling. */
  idle(): boolean {
    return this.commits.idle();
  }

  uptimeMs(): number {
    return this.deps.clock.now() - this.startedAt;
  }

  /** Starts reading the shard's records; 'loaded' arrives as an event. */
  load(): void {
    const shard = this.queue.shard;
    Promise.all([this.deps.store.loadShard(shard), this.deps.store.listDlq(shard, { limit: DEAD_SEED })]).then(
      ([snapshot, dead]) => this.deps.send({ type: 'loaded', snapshot, dead: dead.map((e) => ({ msgId: e.meta.msgId, tenant: e.meta.tenant })) }),
      (error: unknown) => this.deps.send({ type: 'loadFailed', error }),
    );
  }

  handle(event: ShardEvent): void {
    if (this.status === 'dead') return;
    switch (event.type) {
      case '$crash':
        throw new Error(event.reason);
      case 'loadFailed': {
        const error = toMailboxError(event.error);
        // Storage away after the start (Redis unreachable, a shard another instance holds):
        // keep reloading while readiness sheds writes, rather than crash until the supervisor
        // gives up. At the process start a load that fails is a start that fails.
        if (error.code === 'E_UNAVAILABLE' && this.deps.serving?.() === true) return this.retryLoad(error);
        throw new Error(`shard ${this.queue.shard} could not load: ${error.message}`);
      }
      case 'reload':
        this.reloadTimer = undefined;
        if (this.status === 'loading') this.load();
        return;
      case 'loaded': {
        rebuildShard(this.queue, event.snapshot, this.now(), this.leaseRecovery, this.deps.isOwnerAlive, this.commits.ops);
        // A later rebuild (after the store refused a batch) happens inside this live process:
        // consumers still hold their leases, so they must not count as a server restart.
        this.leaseRecovery = 'keep-leases';
        this.queue.restoreDead(event.dead);
        this.status = 'running';
        this.armRetention();
        this.sweep.start();
        this.deps.hooks.up();
        for (const key of this.subs.keys()) this.dirty.add(key);
        const backlog = this.backlog;
        this.backlog = [];
        for (const e of backlog) this.dispatch(e);
        break;
      }
      case 'committed':
        this.onCommitted(event.batch);
        break;
      case 'commitFailed':
        this.onCommitFailed(event.batch, toMailboxError(event.error));
        return;
      case 'probe':
        this.probeTimer = undefined;
        this.probeStorage();
        return;
      case 'probed':
        if (!event.ok) this.armProbe();
        else if (this.storageBroken) this.markStorageRecovered();
        return;
      case 'retention':
        this.retentionTimer = undefined;
        if (this.status !== 'running') return this.armRetention();
        this.purgeRetention();
        break;
      case 'paged':
        if (event.epoch !== this.epoch) return;
        if (event.metas === undefined) {
          // Retried a little later, not at once: a broken store would make it spin.
          this.queue.abortRead(event.key);
          this.retryLater(event.key, PAGE_RETRY_MS);
          break;
        }
        this.queue.applyPage(event.key, event.read, event.metas);
        this.dirty.add(event.key);
        break;
      case 'retentionRead': {
        if (event.epoch !== this.epoch) return;
        if (event.metas === undefined) {
          this.queue.abortRead(event.key);
          break;
        }
        const purged = this.queue.purgeSpilled(event.key, event.metas, this.commits.ops);
        for (const m of purged) this.dropHot(m.msgId);
        const retention = this.deps.retention;
        if (purged.length > 0 && retention) this.whenDurable(() => retention.purged(purged));
        // A full read may have left more past the cutoff: the next pass comes soon.
        if (event.metas.length === event.read.limit && !this.retentionTimer) this.armRetention(RETENTION_AGAIN_MS);
        this.dirty.add(event.key);
        break;
      }
      case 'dedupChecked':
        if (event.epoch !== this.epoch) return;
        this.gate.answered(event.keys, event.entries, event.error, this.now());
        break;
      case 'sweep':
        if (this.status === 'running') this.sweep.start();
        return;
      case 'dedupScanned':
        if (event.epoch !== this.epoch) return;
        this.sweep.page(event.entries, this.now());
        break;
      default:
        if (this.status === 'loading') {
          if (this.backlog.length >= MAX_BACKLOG && 'reply' in event) {
            event.reply.reject(new MailboxError('E_UNAVAILABLE', `shard ${this.queue.shard} is loading`, { retryAfterMs: 200 }));
          } else {
            this.backlog.push(event);
          }
          return;
        }
        this.dispatch(event);
    }
    this.endTurn();
  }

  /** Stops timers and answers everyone still waiting; the actor is gone. */
  dispose(reason: string): void {
    this.status = 'dead';
    if (this.timer) clearTimeout(this.timer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.sweep.stop();
    const error = new MailboxError('E_UNAVAILABLE', `shard ${this.queue.shard} restarting: ${reason}`, { retryAfterMs: 100 });
    this.gate.reset(error);
    for (const list of this.waiters.values()) for (const w of list) w.reply.reject(error);
    this.waiters.clear();
    for (const e of this.backlog) if ('reply' in e) e.reply.reject(error);
    this.backlog = [];
  }

  private dispatch(event: ShardEvent): void {
    const now = this.now();
    switch (event.type) {
      case 'send': return this.onSend(event, now);
      case 'recv': return this.onRecv(event, now);
      case 'ack': return this.onAck(event);
      case 'nack': return this.guard(event.reply, () => {
        const s = this.queue.nack(event.msgId, event.leaseId, event, now, this.commits.ops, event.tenant);
        this.afterSettle(s);
        this.answer(event.reply, undefined);
      });
      case 'extend': return this.guard(event.reply, () => {
        this.answer(event.reply, this.queue.extend(event.msgId, event.leaseId, event.ms, now, this.commits.ops, event.tenant));
      });
      case 'revive': return this.guard(event.reply, () => {
        let revived = 0;
        for (const { entry, payload } of event.entries) {
          if (entry.meta.tenant !== event.tenant) continue; // never another tenant's entry
          this.queue.revive(entry, payload, this.commits.ops);
          this.dirty.add(topicKey(entry.meta.tenant, entry.meta.topic));
          revived++;
        }
        this.answer(event.reply, revived);
      });
      case 'forgetDead': return this.guard(event.reply, () => {
        for (const id of event.msgIds) this.queue.forgetDead(id, this.commits.ops);
        this.answer(event.reply, event.msgIds.length);
      });
      case 'release':
        for (const s of this.queue.releaseOwner(event.owner, now, this.commits.ops)) this.afterSettle(s);
        for (const [key, list] of this.waiters) {
          const keep = list.filter((w) => w.req.owner !== event.owner || (w.reply.resolve([]), false));
          if (keep.length) this.waiters.set(key, keep);
          else this.waiters.delete(key);
        }
        for (const [key, list] of this.subs) {
          const keep = list.filter((s) => s.owner !== event.owner);
          if (keep.length) this.subs.set(key, keep);
          else this.subs.delete(key);
        }
        return;
      case 'subscribe': {
        const key = topicKey(event.sub.tenant, event.sub.topic);
        const list = (this.subs.get(key) ?? []).filter((s) => !(s.owner === event.sub.owner && s.subId === event.sub.subId));
        list.push(event.sub);
        this.subs.set(key, list);
        this.dirty.add(key);
        return;
      }
      case 'unsubscribe':
        for (const [key, list] of this.subs) {
          const keep = list.filter((s) => !(s.owner === event.owner && s.subId === event.subId));
          if (keep.length) this.subs.set(key, keep);
          else this.subs.delete(key);
        }
        return;
      case 'credit':
        for (const [key, list] of this.subs) {
          for (const s of list) {
            if (s.owner !== event.owner || s.subId !== event.subId) continue;
            s.prefetch = event.prefetch;
            this.dirty.add(key); // the new room is filled at the end of this turn
          }
        }
        return;
      case 'wake':
        return this.onWake(now);
      case 'pump':
        this.pumpQueued = false; // the topics it goes on with are still dirty
        return;
      default:
        return;
    }
  }

  /** SENDs keep their order: one that must wait for a store read holds back those after it (send-gate.ts). */
  private onSend(event: SendRequest, now: number): void {
    this.gate.offer(event, now);
  }

  private enqueueSend(event: SendRequest, keys: readonly string[] | undefined, now: number): void {
    const results: SendOutcome[] = [];
    for (let i = 0; i < event.items.length; i++) {
      const item = event.items[i]!;
      const key = keys?.[i];
      if (key !== undefined && this.gate.holdsAnswers) this.gate.admit(key, now);
      // Built once per run of items to one topic (keyOf remembers the last), then passed along.
      const topic = this.queue.keyOf(item.tenant, item.topic);
      try {
        const r = this.queue.enqueue(item, now, this.commits.ops, key, topic);
        results.push(r);
        if (!r.duplicate) {
          this.dirty.add(topic);
          if (this.hotBytes + item.payload.byteLength <= this.deps.hotPayloadBytes) {
            this.hot.set(r.msgId, ownBytes(item.payload));
            this.hotBytes += item.payload.byteLength;
          }
        }
      } catch (err) {
        results.push(toMailboxError(err));
      }
    }
    this.answer(event.reply, results);
  }

  private onRecv(event: Extract<ShardRequest, { type: 'recv' }>, now: number): void {
    const req = this.boundByInflight(event.req);
    if (req.maxMessages <= 0) {
      const mailboxFull = this.deps.inflightAvailable() <= 0;
      event.reply.reject(
        mailboxFull || !this.deps.leaseBound
          ? new MailboxError('E_SATURATED', 'too many open leases in the mailbox', { retryAfterMs: 500 })
          : this.deps.leaseBound.leaseRefusal(req.tenant),
      );
      return;
    }
    const leased = this.queue.lease(req, now, this.commits.ops);
    const key = this.queue.keyOf(req.tenant, req.topic);
    this.pageIfDue(key);
    const paging = leased.length === 0 && this.queue.hasSpilled(key);
    if (leased.length > 0 || (event.waitMs <= 0 && !paging)) {
      this.deliverAfterCommit(leased, (d) => event.reply.resolve(d), event.reply);
      return;
    }
    // Messages are in the store: wait for the page even when the RECV would not wait.
    const waitMs = paging ? Math.max(event.waitMs, PAGE_WAIT_MS) : event.waitMs;
    const list = this.waiters.get(key) ?? [];
    list.push({ req, reply: event.reply, deadline: now + waitMs, parkedAt: now, waited: event.waited });
    this.waiters.set(key, list);
  }

  private onAck(event: Extract<ShardRequest, { type: 'ack' }>): void {
    const results: AckOutcome[] = [];
    /** Items whose message is not in RAM: gone (acked), or, with a paged store, waiting on disk. */
    const unknown: number[] = [];
    for (let i = 0; i < event.items.length; i++) {
      const { msgId, leaseId } = event.items[i]!;
      try {
        const meta = this.queue.ack(msgId, leaseId, this.commits.ops, event.tenant);
        if (meta) {
          this.dropHot(msgId);
          if (this.subs.size > 0) this.dirty.add(this.queue.keyOf(meta.tenant, meta.topic));
          results.push(null);
        } else {
          // Never existed, or already acknowledged: nothing of an acked message is kept (PROTOCOL.md §4).
          results.push(new MailboxError('E_NOT_FOUND', `message ${msgId} is not leased (already acknowledged or unknown)`));
          // A message the queue knows but did not show this tenant is another tenant's: not looked for on disk.
          if (this.deps.store.residency === 'paged' && !this.queue.knows(msgId)) unknown.push(i);
        }
      } catch (err) {
        results.push(toMailboxError(err));
      }
    }
    if (unknown.length === 0) return this.answer(event.reply, results);
    // A late ACK (a lease from before a rebuild) of a message that waits on disk must not be told
    // its work counted: the message is still queued. Its payload says whether it is, and only
    // the asking tenant's own message counts: another tenant's is answered as unknown.
    this.whenDurable(() => {
      const ids = unknown.map((i) => event.items[i]!.msgId);
      this.deps.store.getPayloads(this.queue.shard, ids)
        .then(async (payloads) => {
          const stored = unknown.filter((_, j) => payloads[j] !== undefined);
          const owned = await this.ownedOnDisk(event.tenant, stored.map((i) => event.items[i]!.msgId));
          // While the reads ran, a page read may have brought the message into RAM (its topic is
          // then no longer spilled, and ownedOnDisk does not look there): it is queued, not gone.
          stored.forEach((i, k) => {
            owned[k] ||= this.queue.holdsFor(event.items[i]!.msgId, event.tenant);
          });
          stored.forEach((i, k) => {
            if (owned[k]) results[i] = new MailboxError('E_STALE_LEASE', `lease ${event.items[i]!.leaseId} ended: message ${event.items[i]!.msgId} is queued again`);
          });
          const foreign = owned.filter((o) => !o).length;
          if (foreign > 0) this.deps.hooks.foreignRefused(foreign);
          event.reply.resolve(results);
        })
        .catch((err: unknown) => event.reply.reject(toMailboxError(err)));
    }, event.reply);
  }

  /**
   * Which of `ids` (messages the store holds but RAM does not) are `tenant`'s: a ready message
   * of one of its paged-out topics, or one of its DLQ entries. Reads only the few keys around
   * each id (ids that share all but their last character sort together: at most 32).
   */
  private async ownedOnDisk(tenant: TenantId, ids: readonly MsgId[]): Promise<boolean[]> {
    const { store } = this.deps;
    const shard = this.queue.shard;
    const topics = ids.length > 0 ? this.queue.spilledTopicsOf(tenant) : [];
    const owned: boolean[] = [];
    for (const id of ids) {
      const near = { after: id.slice(0, -1) as MsgId, before: `${id}\u0000`, limit: 32 };
      let mine = false;
      for (const topic of topics) {
        if (mine) break;
        mine = (await store.readyPage(shard, tenant, topic, near)).some((m) => m.msgId === id);
      }
      if (!mine) mine = (await store.listDlq(shard, { after: near.after, limit: near.limit })).some((e) => e.meta.msgId === id && e.meta.tenant === tenant);
      owned.push(mine);
    }
    return owned;
  }

  private onWake(now: number): void {
    for (const key of this.keysToRetry) this.dirty.add(key);
    this.keysToRetry.clear();
    const { settled, promoted } = this.queue.tick(now, this.commits.ops);
    for (const s of settled) this.afterSettle(s);
    for (const key of promoted) this.dirty.add(key);
    for (const [key, list] of this.waiters) {
      const keep = list.filter((w) => w.deadline > now || (w.waited?.(now - w.parkedAt), w.reply.resolve([]), false));
      if (keep.length) this.waiters.set(key, keep);
      else this.waiters.delete(key);
    }
  }

  private afterSettle(s: Settlement): void {
    this.deps.hooks.settled(s);
    if (s.kind === 'dead') {
      this.dropHot(s.entry.meta.msgId);
      if (this.subs.size > 0) this.dirty.add(this.queue.keyOf(s.entry.meta.tenant, s.entry.meta.topic));
    } else {
      this.dirty.add(this.queue.keyOf(s.meta.tenant, s.meta.topic));
    }
  }

  /**
   * Hands ready messages of every touched topic to waiters (RECV long-polls) first, then to
   * subscriptions, scheduled fairly: tenants by deficit round robin, each tenant's topics by
   * another, within a turn budget. A hot tenant with a deep backlog and wide credit gets its
   * quantum per round like any other, and what the budget leaves goes on next turn.
   */
  private pump(): void {
    const now = this.now();
    /** Per tenant, its touched topics that have subscriptions and ready messages. */
    const pending = new Map<TenantId, string[]>();
    for (const key of this.dirty) {
      this.serveWaiters(key, now);
      const subs = this.subs.get(key);
      if (!subs) continue;
      this.pageIfDue(key);
      if (!this.queue.hasReady(key)) continue;
      const tenant = subs[0]!.tenant;
      const keys = pending.get(tenant);
      if (keys) keys.push(key);
      else pending.set(tenant, [key]);
    }
    this.dirty.clear();
    if (pending.size === 0) return;
    const left = this.tenantTurns.run(pending.keys(), TURN_BUDGET, (tenant, allowance) => {
      let turns = this.topicTurns.get(tenant);
      if (!turns) this.topicTurns.set(tenant, (turns = new DeficitRoundRobin<string>(QUANTUM)));
      let spent = 0;
      const keys = turns.run(pending.get(tenant)!, allowance, (key, a) => {
        const r = this.serveSubscriptions(key, a, now);
        spent += r.spent;
        return r;
      });
      pending.set(tenant, keys);
      if (keys.length === 0) this.topicTurns.delete(tenant);
      return { spent, more: keys.length > 0 };
    });
    if (left.length === 0) return;
    // The budget ran out: these go on next turn, after what queued up meanwhile.
    for (const tenant of left) for (const key of pending.get(tenant)!) this.dirty.add(key);
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      setImmediate(() => this.deps.send({ type: 'pump' }));
    }
  }

  /** Parked RECVs of one topic, oldest first, while it has ready messages. */
  private serveWaiters(key: string, now: number): void {
    const waiting = this.waiters.get(key);
    if (!waiting) return;
    while (waiting.length > 0 && this.queue.hasReady(key)) {
      const w = waiting.shift()!;
      const req = this.boundByInflight(w.req);
      if (req.maxMessages <= 0) {
        waiting.unshift(w);
        this.retryLater(key, LEASE_RETRY_MS);
        break;
      }
      w.waited?.(now - w.parkedAt);
      this.deliverAfterCommit(this.queue.lease(req, now, this.commits.ops), (d) => w.reply.resolve(d), w.reply);
    }
    if (waiting.length === 0) this.waiters.delete(key);
    else this.pageIfDue(key);
  }

  /** One topic's turn: its subscriptions, round robin, up to `allowance` bytes (one message may overdraw). */
  private serveSubscriptions(key: string, allowance: number, now: number): ServeResult {
    const subs = this.subs.get(key);
    let spent = 0;
    let held = false;
    let progress = true;
    while (subs && progress && spent < allowance && !held && this.queue.hasReady(key)) {
      progress = false;
      for (const sub of subs) {
        if (spent >= allowance) break;
        const room = Math.min(PUSH_CHUNK, sub.prefetch - this.queue.leasedBy(sub.owner, key));
        if (room <= 0 || !this.queue.hasReady(key)) continue;
        const req = this.boundByInflight({ tenant: sub.tenant, topic: sub.topic, visibilityMs: sub.visibilityMs, maxMessages: room, maxBytes: allowance - spent, owner: sub.owner });
        if (req.maxMessages <= 0) {
          // Held back, not dropped: other topics are still served this turn, this one soon.
          this.retryLater(key, LEASE_RETRY_MS);
          held = true;
          break;
        }
        const leased = this.queue.lease(req, now, this.commits.ops);
        if (leased.length === 0) continue;
        progress = true;
        for (const m of leased) spent += m.size + MESSAGE_COST;
        this.deliverAfterCommit(leased, (d) => sub.deliver(d));
      }
      // Round robin: the next turn starts with the next subscriber.
      if (subs.length > 1) subs.push(subs.shift()!);
    }
    this.pageIfDue(key);
    // Stopped by the allowance with messages left: more next round. Stopped for want of credit: done.
    return { spent, more: !held && spent >= allowance && this.queue.hasReady(key) };
  }

  private retryLater(key: string, ms: number): void {
    this.keysToRetry.add(key);
    if (this.retryTimer || this.status === 'dead') return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.deps.send({ type: 'wake' });
    }, ms);
    // Kept referenced: a consumer waits for these messages (dispose clears it).
  }

  /** Reads the topic's next page from the store when its window runs low (paged store only). */
  private pageIfDue(key: string): void {
    if (!this.queue.needsPage(key)) return;
    const read = this.queue.beginRead(key);
    if (read !== undefined) this.readAfterCommit(key, read, 'paged');
  }

  /** A ready-range read of one topic, issued once every op before it is durable. */
  private readAfterCommit(key: string, read: PageRead, type: 'paged' | 'retentionRead'): void {
    const epoch = this.epoch;
    this.whenDurable(() => {
      // A PageRead is a ReadyPageQuery with its topic beside it.
      this.deps.store.readyPage(this.queue.shard, read.tenant, read.topic, read).then(
        (metas) => this.deps.send({ type, epoch, key, read, metas }),
        (error: unknown) => this.deps.send({ type, epoch, key, read, error }),
      );
    });
  }

  private boundByInflight(req: LeaseRequest): LeaseRequest {
    const available = Math.min(this.deps.inflightAvailable(), this.deps.leaseBound?.leaseRoom(req.tenant) ?? Number.POSITIVE_INFINITY);
    return available >= req.maxMessages ? req : { ...req, maxMessages: Math.max(0, available) };
  }

  /** Builds deliveries now (the lease as granted) and hands them over once the lease is durable. */
  private deliverAfterCommit(leased: MessageMeta[], deliver: (d: Delivery[]) => void, reply?: Reply<Delivery[]>): void {
    const deliveries: Delivery[] = leased.map((m) => {
      const d: Delivery = {
        msgId: m.msgId, tenant: m.tenant, topic: m.topic, attempt: m.attempt, leaseId: m.leaseId!,
        enqueuedAt: m.enqueuedAt, leaseDeadline: m.dueAt, payload: EMPTY, payloadHash: m.payloadHash,
      };
      if (m.attrs) d.attrs = m.attrs;
      return d;
    });
    const fill = (): void => {
      const missing: number[] = [];
      deliveries.forEach((d, i) => {
        const hot = this.hot.get(d.msgId);
        if (hot) d.payload = hot;
        else missing.push(i);
      });
      if (missing.length === 0) return deliver(deliveries);
      this.deps.store.getPayloads(this.queue.shard, missing.map((i) => deliveries[i]!.msgId)).then(
        (payloads) => {
          const fromDisk = this.deps.store.kind !== 'memory';
          missing.forEach((i, j) => {
            const d = deliveries[i]!;
            d.payload = payloads[j] ?? EMPTY;
            // Egress check: bytes that went through a disk are hashed again; the delivery keeps
            // the stored hash, so the consumer refuses a corrupted payload too.
            if (fromDisk && sha256Hex(d.payload) !== d.payloadHash) this.deps.hooks.integrityFailed(d.msgId);
          });
          deliver(deliveries);
        },
        (err: unknown) => reply?.reject(toMailboxError(err)),
      );
    };
    if (deliveries.length === 0) this.whenDurable(() => deliver(deliveries), reply);
    else this.whenDurable(fill, reply);
  }

  private answer<T>(reply: Reply<T>, value: T): void {
    this.whenDurable(() => reply.resolve(value), reply);
  }

  /** Runs `done` after the batch now filling is durable; every reply waits for it, even one that wrote nothing. */
  private whenDurable(done: () => void, reply?: Reply<never> | Reply<unknown>): void {
    this.commits.whenDurable(done, reply ? (e) => reply.reject(e) : undefined);
  }

  private guard<T>(reply: Reply<T>, step: () => void): void {
    try {
      step();
    } catch (err) {
      reply.reject(toMailboxError(err));
    }
  }

  private endTurn(): void {
    const foreign = this.queue.takeForeignRefusals();
    if (foreign > 0) this.deps.hooks.foreignRefused(foreign);
    if (this.status !== 'running') return;
    if (this.dirty.size > 0) this.pump();
    this.queue.flushCounters(this.commits.ops);
    this.commits.flush();
    this.armTimer();
  }

  private onCommitted(id: number): void {
    if (this.commits.committed(id) && this.storageBroken) this.markStorageRecovered();
  }

  private markStorageRecovered(): void {
    this.storageBroken = false;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.deps.hooks.storageRecovered();
  }

  private armProbe(): void {
    if (this.probeTimer || !this.storageBroken || this.status === 'dead') return;
    this.probeTimer = setTimeout(() => this.deps.send({ type: 'probe' }), PROBE_EVERY_MS);
    this.probeTimer.unref?.();
  }

  /** Outside the batch pipeline: a failed probe has nothing to roll back, so the shard need not rebuild. */
  private probeStorage(): void {
    if (!this.storageBroken || this.status === 'dead') return;
    // A real batch in flight will tell as well as a probe would.
    if (this.commits.busy || this.status === 'loading') return this.armProbe();
    this.deps.store.commit([{ op: 'delDedup', shard: this.queue.shard, key: PROBE_KEY }]).then(
      () => this.deps.send({ type: 'probed', ok: true }),
      () => this.deps.send({ type: 'probed', ok: false }),
    );
  }

  private retryLoad(error: MailboxError): void {
    if (!this.storageBroken) {
      this.storageBroken = true;
      this.deps.hooks.storageFailed(new MailboxError('E_UNAVAILABLE', `storage: shard ${this.queue.shard} cannot load: ${error.message}`, { cause: error }), 0);
    }
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => this.deps.send({ type: 'reload' }), PROBE_EVERY_MS);
    this.reloadTimer.unref?.();
  }

  /** The store refused a batch: answer its callers, then rebuild from what the store does hold. */
  private onCommitFailed(id: number, error: MailboxError): void {
    const refusal = new MailboxError('E_UNAVAILABLE', `storage refused the write: ${error.message}`, { retryAfterMs: 1000, cause: error });
    const refused = this.commits.failed(id, refusal);
    if (refused === undefined) return;
    this.storageBroken = true;
    this.deps.hooks.storageFailed(refusal, refused);
    for (const list of this.waiters.values()) for (const w of list) w.reply.resolve([]);
    this.waiters.clear();
    this.hot.clear();
    this.hotBytes = 0;
    this.gate.reset(refusal);
    this.sweep.abandon();
    this.q = this.deps.newQueue();
    this.epoch++;
    this.status = 'loading';
    this.load();
    this.armProbe();
  }

  /** Purges what is past retention through the queue (indexes and store in one batch); counted once durable. */
  private purgeRetention(): void {
    const retention = this.deps.retention;
    if (!retention) return;
    const cutoff = retentionCutoff(this.now(), retention.readyMs);
    const purged = this.queue.purgeOlderThan(cutoff, this.commits.ops, RETENTION_BATCH);
    for (const m of purged) this.dropHot(m.msgId);
    if (purged.length > 0) this.whenDurable(() => retention.purged(purged));
    // Messages left in the store are read (oldest first, up to the cutoff) and dropped in a later turn.
    const spilled = this.queue.spilledTopics();
    if (this.retentionOffset >= spilled.length) this.retentionOffset = 0;
    for (const key of spilled.slice(this.retentionOffset, this.retentionOffset + RETENTION_TOPICS)) {
      const read = this.queue.beginRead(key, RETENTION_READ);
      if (read !== undefined) this.readAfterCommit(key, { ...read, before: idTimePrefix(cutoff) }, 'retentionRead');
    }
    this.retentionOffset += RETENTION_TOPICS;
    const again = purged.length >= RETENTION_BATCH || this.retentionOffset < spilled.length;
    this.armRetention(again ? RETENTION_AGAIN_MS : undefined);
  }

  private armRetention(inMs?: number): void {
    if (!this.deps.retention || this.retentionTimer || this.status === 'dead') return;
    this.retentionTimer = setTimeout(() => this.deps.send({ type: 'retention' }), inMs ?? retentionIntervalMs(this.deps.retention.readyMs));
    this.retentionTimer.unref?.();
  }

  private armTimer(): void {
    let due = this.queue.nextDeadline() ?? Number.POSITIVE_INFINITY;
    for (const list of this.waiters.values()) for (const w of list) if (w.deadline < due) due = w.deadline;
    if (!(due >= this.timerDue && this.timer)) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerDue = due;
      if (due === Number.POSITIVE_INFINITY) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.timerDue = Number.POSITIVE_INFINITY;
        this.deps.send({ type: 'wake' });
      }, Math.max(1, Math.ceil(due - this.now())));
    }
    // Housekeeping alone must not keep an embedding process alive, but a caller awaiting a long poll must.
    if (this.waiters.size === 0) this.timer.unref?.();
    else this.timer.ref?.();
  }

  private dropHot(msgId: MsgId): void {
    const p = this.hot.get(msgId);
    if (p) {
      this.hot.delete(msgId);
      this.hotBytes -= p.byteLength;
    }
  }

}

const EMPTY = new Uint8Array(0);

/**
 * A payload off the wire is a view into its whole WebSocket frame (up to 1 MiB, a batch of
 * messages): keeping the view would keep the frame alive. Kept payloads get their own bytes.
 */
function ownBytes(payload: Uint8Array): Uint8Array {
  return payload.byteLength === payload.buffer.byteLength ? payload : Uint8Array.prototype.slice.call(payload);
}
